import { execFile } from "node:child_process";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { promisify } from "node:util";
import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { engine, engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";
import { pythonHttpServer, pythonTcpServer } from "../test/support/python-servers.js";

/*
 * Issue 11: TLS tunnels and the inbound allowlist through the real
 * modal@0.11.1 SDK. `encryptedPorts` and `h2Ports` terminate TLS with a
 * certificate of the emulator's own CA, so `tunnel.url` is fetched over
 * https by a client that trusts the CA (and refused by one that does not);
 * `h2Ports` carry HTTP/2 to the server in the sandbox; `inboundCidrAllowlist`
 * lets in only the clients it names, on tunnels and connect tokens.
 */

const execFileAsync = promisify(execFile);

/** An HTTP/1.1 server answering every GET with `body` (argv: port, body). */
const HTTP_SERVER = pythonHttpServer("sys.argv[2].encode()", "text/plain");

/**
 * The least HTTP/2 server (cleartext, prior knowledge) on port 8443: it
 * checks the connection preface, settles SETTINGS, and answers each request
 * with :status 200 (HPACK static index 8) and the body "hello over h2".
 */
const H2_SERVER = pythonTcpServer(
  8443,
  `
def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
def serve(conn):
    buf = b""
    try:
        while len(buf) < 24:
            chunk = conn.recv(65536)
            if not chunk: return
            buf += chunk
        if buf[:24] != b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n": return
        buf = buf[24:]
        conn.sendall(frame(4, 0, 0))
        while True:
            while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
                chunk = conn.recv(65536)
                if not chunk: return
                buf += chunk
            length = int.from_bytes(buf[:3], "big")
            kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff
            buf = buf[9 + length:]
            if kind == 4 and not flags & 1:
                conn.sendall(frame(4, 1, 0))
            elif kind == 1:
                conn.sendall(frame(1, 4, stream, b"\\x88") + frame(0, 1, stream, b"hello over h2"))
    finally:
        conn.close()
`,
);

/** GET over https with `ca` trusted (or the default trust store without): status and body. */
function httpsGet(url: string, ca?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, { ...(ca ? { ca } : {}), agent: false, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString("utf8"),
          authorized: (response.socket as { authorized?: boolean }).authorized === true,
        }),
      );
    });
    request.on("error", reject);
    request.end();
  });
}

/** Retries `action` while the server in the sandbox is not up yet (the tunnel closes the connection). */
async function whenUp<T>(action: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (
        Date.now() > deadline ||
        (code !== "ECONNRESET" && code !== "ERR_HTTP2_SESSION_ERROR" && code !== "ERR_HTTP2_STREAM_CANCEL" && !/socket hang up|closed/i.test(String(error)))
      )
        throw error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

/** One HTTP/2 GET: the negotiated ALPN protocol, the status and the body. */
function h2Get(url: string, ca: string): Promise<{ alpn: string | undefined; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(url, { ca });
    session.on("error", reject);
    const stream = session.request({ ":path": "/" });
    stream.on("error", reject);
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const alpn = session.alpnProtocol;
      session.close();
      // No response: the tunnel closed the connection while nothing listened yet.
      if (status === 0) reject(Object.assign(new Error("the HTTP/2 stream ended without a response"), { code: "ERR_HTTP2_STREAM_CANCEL" }));
      else resolve({ alpn, status, body: Buffer.concat(chunks).toString("utf8") });
    });
    stream.on("close", () => {
      if (status === 0) reject(Object.assign(new Error("the HTTP/2 stream closed without a response"), { code: "ERR_HTTP2_STREAM_CANCEL" }));
    });
  });
}

/** Opens a TCP connection and reports whether the server reset it (or closed it) before answering. */
function tcpOutcome(host: string, port: number, send: string): Promise<"answered" | "reset" | "closed"> {
  return new Promise((resolve) => {
    const socket = netConnect(port, host, () => socket.write(send));
    socket.once("data", () => {
      socket.destroy();
      resolve("answered");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNRESET" ? "reset" : "closed"));
    socket.once("close", () => resolve("closed"));
  });
}

describe.runIf(engineReachable)("TLS tunnels and inboundCidrAllowlist (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const harness = useModalEmulator({ appName: "emulator-tunnels-tls" });
  const python = () => harness.image("python:3.12-slim");

  it("encryptedPorts: tunnel.url answers over https to a client trusting the emulator's CA, and fails verification without it", async () => {
    const { modal, app, emulator, track } = harness;
    const sandbox = track(
      await modal.sandboxes.create(app, python(), { command: ["python3", "-c", HTTP_SERVER, "8080", "served over TLS"], encryptedPorts: [8080] }),
    );
    const tunnel = (await sandbox.tunnels())[8080]!;
    expect(tunnel.url).toBe(`https://127.0.0.1:${tunnel.port}`);

    const trusted = await whenUp(() => httpsGet(`${tunnel.url}/`, emulator.tunnelCa.certificatePem));
    expect(trusted).toEqual({ status: 200, body: "served over TLS", authorized: true });
    // The name `localhost` is in the certificate too.
    expect((await httpsGet(`https://localhost:${tunnel.port}/`, emulator.tunnelCa.certificatePem)).body).toBe("served over TLS");

    // Without the CA the certificate does not verify, as a self-made one must not.
    await expect(httpsGet(`${tunnel.url}/`)).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    // Plain http is closed unanswered: a TLS tunnel is not a plain port, as on Modal.
    expect(await tcpOutcome(tunnel.host, tunnel.port, "GET / HTTP/1.0\r\n\r\n")).not.toBe("answered");

    // NODE_EXTRA_CA_CERTS with the CA file the emulator writes: plain fetch() in another process trusts it.
    const script = `fetch(${JSON.stringify(`${tunnel.url}/`)}).then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { process.stdout.write("failed: " + (e.cause?.code ?? e)); })`;
    const withCa = await execFileAsync(process.execPath, ["-e", script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: emulator.tunnelCa.certificatePath } });
    expect(withCa.stdout).toBe("served over TLS");
    const { NODE_EXTRA_CA_CERTS: _ignored, ...withoutCaEnv } = process.env;
    const withoutCa = await execFileAsync(process.execPath, ["-e", script], { env: withoutCaEnv });
    expect(withoutCa.stdout).toBe("failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("h2Ports: TLS with ALPN h2, and HTTP/2 end to end to the server in the sandbox", async () => {
    const { modal, app, emulator, track } = harness;
    const sandbox = track(await modal.sandboxes.create(app, python(), { command: ["python3", "-c", H2_SERVER], h2Ports: [8443] }));
    const tunnel = (await sandbox.tunnels())[8443]!;
    expect(tunnel.url).toBe(`https://127.0.0.1:${tunnel.port}`);
    const answer = await whenUp(() => h2Get(tunnel.url, emulator.tunnelCa.certificatePem));
    expect(answer).toEqual({ alpn: "h2", status: 200, body: "hello over h2" });
  });

  it("inboundCidrAllowlist: a client outside it is reset on tunnels and refused (403) by connect tokens; one inside gets through", async () => {
    const { modal, app, emulator, track } = harness;
    const refused = track(
      await modal.sandboxes.create(app, python(), {
        command: ["python3", "-c", HTTP_SERVER, "8080", "inside"],
        encryptedPorts: [8080],
        unencryptedPorts: [9090],
        inboundCidrAllowlist: ["10.0.0.0/8"],
      }),
    );
    const allowed = track(
      await modal.sandboxes.create(app, python(), {
        command: ["python3", "-c", HTTP_SERVER, "8080", "inside"],
        encryptedPorts: [8080],
        inboundCidrAllowlist: ["10.0.0.0/8", "127.0.0.0/8"],
      }),
    );

    // Allowed: 127.0.0.1 is in 127.0.0.0/8, on the TLS tunnel and through a connect token.
    const open = (await allowed.tunnels())[8080]!;
    expect((await whenUp(() => httpsGet(`${open.url}/`, emulator.tunnelCa.certificatePem))).body).toBe("inside");
    const allowedToken = await allowed.createConnectToken({ port: 8080 });
    const ca = emulator.tunnelCa.certificatePem;
    expect((await httpsGet(allowedToken.url, ca, { authorization: `Bearer ${allowedToken.token}` })).status).toBe(200);

    // Refused: the encrypted tunnel and the raw TCP socket reset the connection before anything is answered.
    const tunnels = await refused.tunnels();
    await expect(httpsGet(`${tunnels[8080]!.url}/`, emulator.tunnelCa.certificatePem)).rejects.toMatchObject({ code: "ECONNRESET" });
    const [host, port] = tunnels[9090]!.tcpSocket;
    expect(await tcpOutcome(host, port, "GET / HTTP/1.0\r\n\r\n")).toBe("reset");
    const refusedToken = await refused.createConnectToken({ port: 8080 });
    const forbidden = await httpsGet(refusedToken.url, ca, { authorization: `Bearer ${refusedToken.token}` });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toContain("inboundCidrAllowlist");
    // And no engine port binding gets around it.
    const info = await engine.docker.getContainer(emulator.inspect.sandboxes().find((entry) => entry.sandboxId === refused.sandboxId)!.containerId).inspect();
    expect(Object.values(info.NetworkSettings?.Ports ?? {}).flatMap((entries) => entries ?? [])).toEqual([]);
  });

  it("inboundCidrAllowlist is checked: a malformed CIDR is refused with INVALID_ARGUMENT naming the option", async () => {
    const { modal, app } = harness;
    await expect(modal.sandboxes.create(app, python(), { inboundCidrAllowlist: ["10.0.0.0/33"] })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining("inboundCidrAllowlist"),
    });
  });
});
