/*
 * The servers the emulator tests run in their sandboxes (python:3.12-slim), as
 * `python3 -c <script> ...`: one frame each for HTTP and for raw TCP, the
 * tests saying only what is answered.
 */

/**
 * A threaded HTTP/1.1 server on port argv[1] answering every GET with 200 and
 * `body`: a Python expression of the handler (`self`) and `sys.argv` (json is
 * imported) that gives bytes, sent as `contentType`.
 */
export function pythonHttpServer(body: string, contentType: string): string {
  return `
import http.server, json, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ${body}
        self.send_response(200)
        self.send_header("content-type", ${JSON.stringify(contentType)})
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
`;
}

/**
 * A TCP server on `port` handling each connection in its own thread with
 * `serve`: the source of a top-level `def serve(conn):` (socket, struct and
 * threading are imported).
 */
export function pythonTcpServer(port: number, serve: string): string {
  return `
import socket, struct, threading
${serve.trim()}
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", ${port}))
server.listen()
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
`;
}
