import { request as httpsRequest } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { trustCertificateAuthority } from "@sandbox/test-support";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";
import { pythonHttpServer, pythonTcpServer } from "../test/support/python-servers.js";

/*
 * Connect tokens (issue 11): `createConnectToken` through the real
 * modal@0.11.1 SDK, then HTTPS (as Modal's proxy speaks it) through the
 * emulator's authenticating proxy to a server running in the sandbox. The
 * proxy's certificate is signed by the emulator's CA, which this file's
 * global fetch trusts (trustCertificateAuthority).
 */

/** An HTTP server answering every request with its method, path and headers as JSON. */
const ECHO_SERVER = pythonHttpServer(
  'json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()',
  "application/json",
);

/** A TCP server that answers an Upgrade request with 101 and then echoes what it receives (as a WebSocket server would switch protocols). */
const UPGRADE_ECHO_SERVER = pythonTcpServer(
  8080,
  `
def serve(conn):
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head = data.split(b"\\r\\n\\r\\n", 1)[0].decode()
    metadata = [line.split(":", 1)[1].strip() for line in head.split("\\r\\n") if line.lower().startswith("x-verified-user-data:")]
    conn.sendall(("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\nX-Seen-Metadata: " + (metadata[0] if metadata else "") + "\\r\\n\\r\\n").encode())
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            break
        conn.sendall(chunk)
    conn.close()
`,
);

/** Sends an Upgrade request through the proxy (trusting `ca`): the 101 answer and its socket, or the refusal's status. */
function upgrade(url: string, token: string, ca: string): Promise<{ status: number; headers: Record<string, unknown>; socket?: Socket }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, { ca, agent: false, headers: { connection: "Upgrade", upgrade: "echo", authorization: `Bearer ${token}` } });
    request.on("upgrade", (response, socket) => resolve({ status: response.statusCode ?? 0, headers: response.headers, socket }));
    request.on("response", (response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0, headers: response.headers });
    });
    request.on("error", reject);
    request.end();
  });
}

/** Opens a TCP connection, sends `text`, and says whether anything was answered before the server closed it. */
function plainAnswer(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = netConnect(Number(port), hostname, () => socket.write(text));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}

/** Fetches until the server in the sandbox answers (it starts after the sandbox does). */
async function fetchWhenUp(url: string, init: RequestInit): Promise<Response> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(url, init);
    if (response.status !== 502 || Date.now() > deadline) return response;
    await response.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

describe.runIf(engineReachable)("createConnectToken (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-connect" });
  const python = () => emu.image("python:3.12-slim");
  let untrust: (() => Promise<void>) | undefined;
  beforeAll(() => {
    untrust = trustCertificateAuthority(emu.emulator.tunnelCa.certificatePem);
  });
  afterAll(async () => {
    await untrust?.();
  });

  it("forwards a request with the token to the sandbox's port 8080, with the user metadata and without the token", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, python(), { command: ["python3", "-c", ECHO_SERVER, "8080"] });
    emu.track(sandbox);
    const credentials = await sandbox.createConnectToken({ userMetadata: "user-42" });
    expect(credentials.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(credentials.token.length).toBeGreaterThanOrEqual(32);

    const response = await fetchWhenUp(`${credentials.url}/hello?x=1`, { headers: { authorization: `Bearer ${credentials.token}` } });
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as { path: string; headers: Record<string, string> };
    expect(echoed.path).toBe("/hello?x=1");
    expect(echoed.headers["x-verified-user-data"]).toBe("user-42");
    expect(echoed.headers.authorization).toBeUndefined();

    // No token, a wrong one, or one in the wrong shape: refused by the proxy, never forwarded.
    expect((await fetch(credentials.url)).status).toBe(401);
    expect((await fetch(credentials.url, { headers: { authorization: "Bearer not-the-token" } })).status).toBe(401);
    expect((await fetch(credentials.url, { headers: { authorization: credentials.token } })).status).toBe(401);

    // The token ends with the sandbox.
    await sandbox.terminate();
    expect((await fetch(credentials.url, { headers: { authorization: `Bearer ${credentials.token}` } })).status).toBe(401);
  });

  it("serves the proxy over TLS with the emulator's CA: unverifiable without the CA, plain http closed unanswered", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, python(), { command: ["python3", "-c", ECHO_SERVER, "8080"] });
    emu.track(sandbox);
    const credentials = await sandbox.createConnectToken();
    const authorization = `Bearer ${credentials.token}`;
    expect(await (await fetchWhenUp(`${credentials.url}/tls`, { headers: { authorization } })).json()).toMatchObject({ path: "/tls" });

    // A client that does not trust the emulator's CA refuses the proxy's certificate.
    const untrusted = new Promise<number>((resolve, reject) => {
      const request = httpsRequest(credentials.url, { agent: false, headers: { authorization } }, (response) => resolve(response.statusCode ?? 0));
      request.on("error", reject);
      request.end();
    });
    await expect(untrusted).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    // The certificate names localhost too.
    const byName = credentials.url.replace("127.0.0.1", "localhost");
    expect((await fetch(`${byName}/n`, { headers: { authorization } })).status).toBe(200);
    // Plain HTTP to the proxy's port, even with the token: closed without an answer.
    expect(await plainAnswer(credentials.url, `GET /plain HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n\r\n`)).toBe("");
    expect((await fetch(credentials.url.replace("https:", "http:"), { headers: { authorization } }).catch((error: unknown) => error)) instanceof Error).toBe(
      true,
    );
  });

  it("routes a token made for another port there, and answers 502 while nothing listens", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, python(), { command: ["python3", "-c", ECHO_SERVER, "9000"] });
    emu.track(sandbox);
    const onPort = await sandbox.createConnectToken({ port: 9000 });
    const response = await fetchWhenUp(`${onPort.url}/p`, { headers: { authorization: `Bearer ${onPort.token}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { path: string }).path).toBe("/p");

    const nothing = await sandbox.createConnectToken({ port: 8081 });
    const refused = await fetch(nothing.url, { headers: { authorization: `Bearer ${nothing.token}` } });
    expect(refused.status).toBe(502);
    expect(await refused.text()).toContain("8081");
  });

  it("forwards an Upgrade (WebSocket-style) connection with the token, and refuses it without", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, python(), { command: ["python3", "-c", UPGRADE_ECHO_SERVER] });
    emu.track(sandbox);
    const credentials = await sandbox.createConnectToken({ userMetadata: "ws-user" });
    const ca = emu.emulator.tunnelCa.certificatePem;
    let upgraded = await upgrade(credentials.url, credentials.token, ca);
    for (let attempt = 0; upgraded.status === 502 && attempt < 60; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      upgraded = await upgrade(credentials.url, credentials.token, ca);
    }
    expect(upgraded.status).toBe(101);
    expect(upgraded.headers["x-seen-metadata"]).toBe("ws-user");
    const socket = upgraded.socket!;
    const echoed = new Promise<string>((resolve) => socket.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8"))));
    socket.write("ping over the proxy");
    expect(await echoed).toBe("ping over the proxy");
    socket.destroy();

    expect((await upgrade(credentials.url, "wrong-token", ca)).status).toBe(401);
  });

  it("refuses a token for a sandbox without a network, saying why", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, python(), { blockNetwork: true });
    emu.track(sandbox);
    await expect(sandbox.createConnectToken()).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION, details: expect.stringContaining("blockNetwork") });
  });
});
