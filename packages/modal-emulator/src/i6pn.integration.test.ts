import type { Sandbox } from "modal";
import { describe, expect, it } from "vitest";
import { engineReachable, run, useModalEmulator } from "../test/support/emulator-harness.js";

/*
 * Issue 11: `i6pn: true` joins sandboxes to a private IPv6 network, where
 * they reach each other at their `i6pn.modal.local` address; a sandbox
 * without i6pn cannot reach them. Through the real modal@0.11.1 SDK.
 */

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

/** The sandbox's stdout for `argv`, trimmed. */
async function output(sandbox: Sandbox, argv: string[]): Promise<string> {
  return (await run(sandbox, argv)).stdout.trim();
}

describe.runIf(engineReachable)("i6pn (modal@0.11.1 SDK, Docker engine with IPv6 networks)", { timeout: 120_000 }, () => {
  const harness = useModalEmulator({ appName: "emulator-i6pn" });
  const python = () => harness.image("python:3.12-slim");

  it("two i6pn sandboxes reach each other over IPv6 at their i6pn.modal.local addresses; a sandbox without i6pn does not", async () => {
    const { modal, app, track } = harness;
    const server = track(await modal.sandboxes.create(app, python(), { i6pn: true, command: ["python3", "-c", SERVER] }));
    const peer = track(await modal.sandboxes.create(app, python(), { i6pn: true }));
    const outsider = track(await modal.sandboxes.create(app, python()));

    const lookup = ["python3", "-c", 'import socket; print(socket.getaddrinfo("i6pn.modal.local", None, socket.AF_INET6)[0][4][0])'];
    const serverAddress = await output(server, lookup);
    const peerAddress = await output(peer, lookup);
    expect(serverAddress).toMatch(/^fd[0-9a-f]{2}:/);
    expect(peerAddress).not.toBe(serverAddress);

    expect(await output(peer, ["python3", "-c", CLIENT, serverAddress])).toBe(`hello from ${serverAddress}`);
    // No address on the private network and no route to it: the outsider cannot connect (EADDRNOTAVAIL, ENETUNREACH or EHOSTUNREACH).
    expect(await output(outsider, ["python3", "-c", CLIENT, serverAddress])).toMatch(/^(OSError|TimeoutError|timeout) (99|101|113|None)$/);
  });
});
