import { fetchWhenServed, trustCertificateAuthority } from "@sandbox/test-support";
import type { Image, ModalClient, Sandbox } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engine, engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";
import { MODAL_OBJECT_LABELS } from "./emulator-labels.js";

/*
 * Tunnels, PTY execs and exec stdin, driven by the REAL modal@0.11.1 SDK over
 * gRPC against the emulator and real containers. Nothing is mocked.
 */

/** Fetches `url` until the server in the sandbox answers. */
function fetchUntilServed(url: string): Promise<string> {
  return fetchWhenServed(url, { timeoutMs: 20_000, intervalMs: 250 });
}

/** Starts busybox httpd on `port` serving `body`, detached, through an SDK exec. */
async function serve(sandbox: Sandbox, port: number, body: string): Promise<void> {
  const started = await sandbox.exec(
    [
      "sh",
      "-c",
      `mkdir -p /www${port} && printf '%s' "$1" > /www${port}/index.html && (setsid httpd -f -p ${port} -h /www${port} </dev/null >/dev/null 2>&1 &)`,
      "serve",
      body,
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  expect(await started.wait()).toBe(0);
}

/**
 * Reads the terminal's output until `prompt` shows (at most 20 s), types
 * `input`, and returns everything it printed until it ended.
 */
async function typeOnceShown(terminal: { stdout: AsyncIterable<string>; stdin: WritableStream<string> }, prompt: string, input: string): Promise<string> {
  let seen = "";
  const reading = (async () => {
    for await (const text of terminal.stdout) seen += text;
  })();
  reading.catch(() => undefined);
  const deadline = Date.now() + 20_000;
  while (!seen.includes(prompt) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  await terminal.stdin.getWriter().write(input);
  await reading;
  return seen;
}

describe.runIf(engineReachable)("modal@0.11.1 SDK: tunnels, PTY execs and stdin against modal-emulator (needs a Docker engine)", { timeout: 90_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-processes-and-ports" });
  let v1: ModalClient;
  let image: Image;

  let untrustTunnelCa: (() => Promise<void>) | undefined;

  beforeAll(() => {
    v1 = emu.client({ MODAL_SANDBOX_V2: "0" });
    image = emu.modal.images.fromRegistry("alpine:3.21");
    untrustTunnelCa = trustCertificateAuthority(emu.emulator.tunnelCa.certificatePem);
  });

  afterAll(async () => {
    await untrustTunnelCa?.();
  });

  describe("tunnels", () => {
    for (const [family, client] of [
      ["V2", () => emu.modal],
      ["V1", () => v1],
    ] as const) {
      it(`${family}: encrypted and unencrypted ports are TLS listeners on 127.0.0.1 (plus plain TCP for unencrypted), answered as Modal-shaped TunnelData`, async () => {
        const sandbox = await client().sandboxes.create(emu.app, image, { encryptedPorts: [8080], unencryptedPorts: [9090], timeoutMs: 120_000 });
        emu.track(sandbox);
        const tunnels = await sandbox.tunnels();
        expect(Object.keys(tunnels).sort()).toEqual(["8080", "9090"]);
        const encrypted = tunnels[8080]!;
        const plain = tunnels[9090]!;
        expect(encrypted.host).toBe("127.0.0.1");
        expect(encrypted.port).toBeGreaterThan(0);
        // Modal's shape: an encrypted tunnel has no TCP socket, an unencrypted one has.
        expect(encrypted.unencryptedHost).toBeUndefined();
        expect(() => encrypted.tcpSocket).toThrow(/not configured for unencrypted TCP/);
        expect(plain.tcpSocket).toEqual(["127.0.0.1", plain.unencryptedPort]);
        expect(plain.unencryptedPort).not.toBe(plain.port);
        expect(encrypted.url).toBe(`https://127.0.0.1:${encrypted.port}`);

        await serve(sandbox, 8080, `served on 8080 (${family})`);
        await serve(sandbox, 9090, `served on 9090 (${family})`);
        // TLS with the emulator's CA (trusted above); plain http to the TLS listener is refused.
        expect(await fetchUntilServed(`${encrypted.url}/index.html`)).toBe(`served on 8080 (${family})`);
        await expect(fetch(`http://${encrypted.host}:${encrypted.port}/index.html`)).rejects.toThrow();
        const [host, port] = plain.tcpSocket;
        expect(await fetchUntilServed(`http://${host}:${port}/index.html`)).toBe(`served on 9090 (${family})`);

        // A fresh handle (another client's fromId) asks the server again and gets the same tunnels.
        const fresh = await client().sandboxes.fromId(sandbox.sandboxId);
        try {
          const again = await fresh.tunnels();
          expect(again[8080]?.port).toBe(encrypted.port);
          expect(again[9090]?.unencryptedPort).toBe(plain.unencryptedPort);
        } finally {
          fresh.detach();
        }
        // The tunnels are the only way in: the engine publishes no port that would get around their TLS.
        const [summary] = await engine.listContainers({ [MODAL_OBJECT_LABELS.sandboxId]: sandbox.sandboxId });
        expect(summary, "the sandbox's container").toBeDefined();
        const inspected = await engine.container(summary!.id).inspect();
        expect(Object.values(inspected.NetworkSettings?.Ports ?? {}).flatMap((entries) => entries ?? [])).toEqual([]);
      });
    }

    it("a sandbox without ports has no tunnels", async () => {
      const sandbox = await emu.modal.sandboxes.create(emu.app, image, { timeoutMs: 60_000 });
      emu.track(sandbox);
      expect(await sandbox.tunnels()).toEqual({});
    });

    it("refuses ports with blockNetwork, and a port outside 1-65535, as INVALID_ARGUMENT naming why", async () => {
      await expect(emu.modal.sandboxes.create(emu.app, image, { encryptedPorts: [8080], blockNetwork: true })).rejects.toThrow(/blockNetwork has no network/);
      await expect(emu.modal.sandboxes.create(emu.app, image, { unencryptedPorts: [70_000] })).rejects.toThrow(/Invalid port 70000/);
    });
  });

  describe("PTY execs", () => {
    it("exec with pty: a terminal of Modal's size (24 x 80), TERM from ptyInfo, stderr merged into stdout, raw input, the exit code", async () => {
      const sandbox = await emu.modal.sandboxes.create(emu.app, image, { timeoutMs: 60_000 });
      emu.track(sandbox);
      const process = await sandbox.exec(
        [
          "sh",
          "-c",
          'stty size; echo "term=$TERM"; echo on-stderr >&2; [ -t 0 ] && echo stdin-is-a-tty; read line; echo "got=$line"; stty rows 40 cols 120; stty size; exit 3',
        ],
        { pty: true, mode: "text" },
      );
      const seen = await typeOnceShown(process, "stdin-is-a-tty", "typed\r");
      expect(await process.wait()).toBe(3);
      expect(seen).toContain("24 80\r\n");
      expect(seen).toContain("term=xterm-256color\r\n");
      expect(seen, "stderr goes to the terminal, so to stdout").toContain("on-stderr\r\n");
      expect(seen).toContain("got=typed\r\n");
      expect(seen, "the program resized its own terminal").toContain("40 120\r\n");
      expect(await process.stderr.readText()).toBe("");
    });
  });

  describe("PTY sandboxes", () => {
    it("create with pty: the entrypoint runs on a terminal of Modal's size, its stderr on stdout, the sandbox's stdin as terminal input", async () => {
      const sandbox = emu.track(
        await emu.modal.sandboxes.create(emu.app, image, {
          pty: true,
          timeoutMs: 60_000,
          command: [
            "sh",
            "-c",
            '[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo on-a-tty; stty size; echo "term=$TERM"; echo on-stderr >&2; read line; echo "got=$line"; exit 5',
          ],
        }),
      );
      const seen = await typeOnceShown(sandbox, "on-stderr", "typed\r");
      expect(await sandbox.wait()).toBe(5);
      expect(seen).toContain("on-a-tty\r\n");
      expect(seen).toContain("24 80\r\n");
      expect(seen).toContain("term=xterm-256color\r\n");
      expect(seen, "stderr goes to the terminal, so to stdout").toContain("on-stderr\r\n");
      expect(seen).toContain("got=typed\r\n");
      expect(await sandbox.stderr.readText()).toBe("");
    });
  });

  describe("exec stdin", () => {
    it("bytes written to an exec's stdin reach the command, and close() is end-of-file", async () => {
      const sandbox = await emu.modal.sandboxes.create(emu.app, image, { timeoutMs: 60_000 });
      emu.track(sandbox);
      const process = await sandbox.exec(["sh", "-c", "cat; echo after-eof"], { mode: "text" });
      const writer = process.stdin.getWriter();
      await writer.write("first ✓\n");
      await writer.write("second\n");
      await writer.close();
      expect(await process.stdout.readText()).toBe("first ✓\nsecond\nafter-eof\n");
      expect(await process.wait()).toBe(0);
    });
  });
});
