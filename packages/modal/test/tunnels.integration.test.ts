import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { fetchWhenServed } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";

/*
 * portUrl() / portUrls() are Modal's https tunnel URLs, through the offline
 * emulator too: the emulator terminates TLS with its own CA, which the tests'
 * global fetch trusts (test/support/emulator.ts, as a user does with
 * NODE_EXTRA_CA_CERTS). Plain http to a TLS tunnel is refused, as on Modal;
 * only an unencrypted port's TCP socket speaks plain TCP. Real SDK, real
 * gRPC, real containers.
 */

const withDocker = await dockerAvailable();
const appName = `tunnels-${process.pid}`;

/** Fetches `url` until the server in the sandbox answers. */
function fetchUntilServed(url: string): Promise<string> {
  return fetchWhenServed(url, { timeoutMs: 30_000, intervalMs: 300 });
}

/** What a raw TCP client that sends a plain HTTP request gets back: the answer's first line, or "closed". */
function plainHttpOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => socket.write(`GET /index.html HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    let answer = "";
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
    });
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(answer ? (answer.split("\r\n")[0] ?? "") : "closed"));
  });
}

/** A GET with Node's default trust store only (no emulator CA): the error code it fails with. */
function untrustedOutcome(url: string): Promise<string> {
  return new Promise((resolve) => {
    const request = httpsRequest(url, { agent: false }, (response) => {
      response.resume();
      resolve(`HTTP ${response.statusCode}`);
    });
    request.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end();
  });
}

describe.runIf(withDocker)("ModalSandbox ports through @sandbox/modal-emulator's TLS tunnels (needs a Docker engine)", () => {
  useEmulatorSession();

  it("portUrl() is the SDK's https tunnel URL; it answers to a client trusting the emulator's CA and to no plain-http client", {
    timeout: 180_000,
  }, async () => {
    const sandbox = await ModalSandbox.create({ appName, imageName: "sandbox-busybox:latest", ports: [8080], unencryptedPorts: [9090], timeoutMs: 120_000 });
    try {
      const tunnels = await sandbox.instance.tunnels();
      const url = await sandbox.portUrl(8080);
      expect(url).toBe(tunnels[8080]!.url);
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await sandbox.portUrls()).toEqual({ 8080: url, 9090: tunnels[9090]!.url });

      for (const port of [8080, 9090]) {
        const started = await sandbox.execute(
          `mkdir -p /www${port} && printf 'page on ${port}' > /www${port}/index.html && (setsid httpd -f -p ${port} -h /www${port} </dev/null >/dev/null 2>&1 &)`,
        );
        expect(started.exitCode).toBe(0);
      }
      // https with the CA trusted (the session installed it for the global fetch).
      expect(await fetchUntilServed(new URL("/index.html", url).href)).toBe("page on 8080");
      // An unencrypted port has the https URL too, and a plain TCP socket besides, as on Modal.
      const unencryptedUrl = await sandbox.portUrl(9090);
      expect(unencryptedUrl).toMatch(/^https:\/\//);
      expect(await fetchUntilServed(new URL("/index.html", unencryptedUrl).href)).toBe("page on 9090");
      const [tcpHost, tcpPort] = tunnels[9090]!.tcpSocket;
      expect(tcpPort).not.toBe(tunnels[9090]!.port);
      expect(await plainHttpOutcome(tcpHost, tcpPort)).toMatch(/^HTTP\/1\.[01] 200 OK$/);

      // Plain http to the TLS tunnel: closed before the server in the sandbox sees it.
      const { hostname, port } = new URL(url);
      expect(await plainHttpOutcome(hostname, Number(port))).toBe("closed");
      await expect(fetch(`http://${hostname}:${port}/index.html`, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
      // Without the emulator's CA the certificate does not verify: it is TLS, not a loopback shortcut.
      expect(await untrustedOutcome(`${url}/index.html`)).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    } finally {
      await sandbox.close();
    }
  });
});
