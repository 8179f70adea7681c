import { DockerEngine } from "@sandbox/docker-engine";
import { dockerEngineAvailable } from "@sandbox/test-support";
import { type App, type Image, ModalClient, type Sandbox } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INSTANCE_LABEL, type ModalEmulator, startModalEmulator } from "./index.js";

/*
 * Issue 11: `i6pn: true` joins sandboxes to a private IPv6 network, where
 * they reach each other at their `i6pn.modal.local` address; a sandbox
 * without i6pn cannot reach them. Through the real modal@0.11.1 SDK.
 */

const withDocker = await dockerEngineAvailable();
const engine = new DockerEngine();
const TOKEN_ID = "ak-i6pn-test";
const TOKEN_SECRET = "as-i6pn-test-secret";

/** A TCP server on every IPv6 address, port 7000, answering "hello from <its i6pn address>". */
const SERVER = `
import socket
address = socket.getaddrinfo("i6pn.modal.local", None, socket.AF_INET6)[0][4][0]
server = socket.socket(socket.AF_INET6)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("::", 7000))
server.listen()
while True:
    conn, _ = server.accept()
    conn.sendall(("hello from " + address).encode())
    conn.close()
`;

/** Connects to [argv1]:7000 and prints what it answers, or the error's name. */
const CLIENT = `
import socket, sys, time
for attempt in range(40):
    try:
        with socket.create_connection((sys.argv[1], 7000), timeout=3) as conn:
            print(conn.recv(100).decode())
            break
    except OSError as error:
        if attempt == 39 or isinstance(error, socket.timeout) or error.errno not in (111,):
            print(type(error).__name__, error.errno)
            break
        time.sleep(0.25)
`;

function clientFor(url: string): ModalClient {
  const saved = process.env.MODAL_SERVER_URL;
  process.env.MODAL_SERVER_URL = url;
  try {
    return new ModalClient({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, logLevel: "error" });
  } finally {
    if (saved === undefined) delete process.env.MODAL_SERVER_URL;
    else process.env.MODAL_SERVER_URL = saved;
  }
}

async function run(sandbox: Sandbox, argv: string[]): Promise<string> {
  const process_ = await sandbox.exec(argv);
  const [output] = await Promise.all([process_.stdout.readText(), process_.wait()]);
  return output.trim();
}

describe.runIf(withDocker)("i6pn (modal@0.11.1 SDK, Docker engine with IPv6 networks)", { timeout: 120_000 }, () => {
  let emulator: ModalEmulator;
  let modal: ModalClient;
  let app: App;
  let python: Image;
  const sandboxes: Sandbox[] = [];

  beforeAll(async () => {
    emulator = await startModalEmulator({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET });
    modal = clientFor(emulator.url);
    app = await modal.apps.fromName("emulator-i6pn", { createIfMissing: true });
    python = modal.images.fromRegistry("python:3.12-slim");
  }, 120_000);

  afterAll(async () => {
    for (const sandbox of sandboxes) await sandbox.terminate().catch(() => undefined);
    modal?.close();
    if (!emulator) return;
    const instance = emulator.labels[INSTANCE_LABEL]!;
    await emulator.stop();
    expect(await engine.listContainers({ [INSTANCE_LABEL]: instance })).toEqual([]);
    const networks = await engine.docker.listNetworks({ filters: { label: [`${INSTANCE_LABEL}=${instance}`] } });
    expect(networks.map((network) => network.Name)).toEqual([]);
  }, 120_000);

  it("two i6pn sandboxes reach each other over IPv6 at their i6pn.modal.local addresses; a sandbox without i6pn does not", async () => {
    const server = await modal.sandboxes.create(app, python, { i6pn: true, command: ["python3", "-c", SERVER] });
    sandboxes.push(server);
    const peer = await modal.sandboxes.create(app, python, { i6pn: true });
    sandboxes.push(peer);
    const outsider = await modal.sandboxes.create(app, python);
    sandboxes.push(outsider);

    const lookup = ["python3", "-c", 'import socket; print(socket.getaddrinfo("i6pn.modal.local", None, socket.AF_INET6)[0][4][0])'];
    const serverAddress = await run(server, lookup);
    const peerAddress = await run(peer, lookup);
    expect(serverAddress).toMatch(/^fd[0-9a-f]{2}:/);
    expect(peerAddress).not.toBe(serverAddress);

    expect(await run(peer, ["python3", "-c", CLIENT, serverAddress])).toBe(`hello from ${serverAddress}`);
    // No address on the private network and no route to it: the outsider cannot connect (EADDRNOTAVAIL, ENETUNREACH or EHOSTUNREACH).
    expect(await run(outsider, ["python3", "-c", CLIENT, serverAddress])).toMatch(/^(OSError|TimeoutError|timeout) (99|101|113|None)$/);
  });
});
