import { randomBytes, timingSafeEqual } from "node:crypto";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { LocalCertificateAuthority } from "./local-ca.js";
import type { SandboxRecord } from "./sandbox-record.js";
import { inboundAllowed } from "./sandbox-tunnels.js";

/** Header carrying the token's `userMetadata` to the sandbox's server, as Modal's proxy sends it. */
export const USER_METADATA_HEADER = "x-verified-user-data";
/** Port a connect token routes to when the request names none (the SDK's default too). */
const DEFAULT_CONNECT_PORT = 8080;

interface ConnectGrant {
  token: string;
  sandbox: SandboxRecord;
  port: number;
  userMetadata: string;
}

/**
 * Modal's authenticating proxy in front of sandboxes, on 127.0.0.1, over
 * HTTPS as Modal's is: its certificate (for `127.0.0.1` and `localhost`) is
 * the one the TLS tunnels present, signed by the emulator's CA (local-ca.ts),
 * so `https://127.0.0.1:PORT` verifies for a client that trusts the CA.
 * A connection that does not start with a TLS handshake (plain `http://`)
 * is closed unanswered, as the tunnels close it. A connect token (`createConnectToken`) is checked on each request
 * (`Authorization: Bearer <token>`), which is then forwarded to the token's
 * port on the sandbox's container address with the token's `userMetadata`
 * in {@link USER_METADATA_HEADER} (and without the token). No or a wrong
 * token: 401; a sandbox that has finished: 410; a client outside the
 * sandbox's `inboundCidrAllowlist`: 403; nothing listening: 502.
 * WebSocket upgrades are forwarded too. Tokens end with their sandbox.
 */
export class ConnectProxy {
  readonly #grants = new Map<string, ConnectGrant>();
  #server: Promise<{ server: Server; url: string }> | undefined;
  readonly #sockets = new Set<Socket | Duplex>();
  readonly #ca: LocalCertificateAuthority;

  constructor(ca: LocalCertificateAuthority) {
    this.#ca = ca;
  }

  /** Mints a token for `port` (default 8080) of a running sandbox; starts the proxy on first use. */
  async grant(sandbox: SandboxRecord, port: number | undefined, userMetadata: string): Promise<{ url: string; token: string }> {
    if (!sandbox.running) fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} has already finished`);
    const target = port || DEFAULT_CONNECT_PORT;
    if (!Number.isInteger(target) || target < 1 || target > 65535) fail(Status.INVALID_ARGUMENT, `port must be in [1, 65535], got ${target}`);
    if (!(await containerAddress(sandbox))) {
      fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} has no network (blockNetwork): no HTTP server in it can be reached`);
    }
    const token = randomBytes(32).toString("base64url");
    this.#grants.set(token, { token, sandbox, port: target, userMetadata });
    void sandbox.ended.then(() => this.#grants.delete(token));
    const { url } = await this.#start();
    return { url, token };
  }

  /** Stops the proxy and drops every token and open connection. */
  async close(): Promise<void> {
    this.#grants.clear();
    const started = await this.#server?.catch(() => undefined);
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (started) await new Promise<void>((resolve) => started.server.close(() => resolve()));
  }

  #start(): Promise<{ server: Server; url: string }> {
    this.#server ??= new Promise((resolve, reject) => {
      const server = createServer(
        { cert: this.#ca.serverCertificatePem, key: this.#ca.serverKeyPem, ALPNProtocols: ["http/1.1"] },
        (request, response) => void this.#forward(request, response),
      );
      // Not TLS (plain http://) or a client that does not trust the CA: closed, nothing is answered.
      server.on("tlsClientError", (_error, socket) => socket.destroy());
      server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(request, socket, head));
      server.on("connection", (socket) => {
        this.#sockets.add(socket);
        socket.on("close", () => this.#sockets.delete(socket));
      });
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        if (!address || typeof address === "string") return reject(new Error("the connect proxy has no TCP address"));
        resolve({ server, url: `https://127.0.0.1:${address.port}` });
      });
    });
    return this.#server;
  }

  /** The grant the request's token names, or why it is refused (HTTP status and message). */
  async #authorise(request: IncomingMessage): Promise<{ grant: ConnectGrant; address: string } | { status: number; message: string }> {
    const header = request.headers.authorization ?? "";
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!presented) return { status: 401, message: "missing connect token: send it as `Authorization: Bearer <token>`" };
    const grant = [...this.#grants.values()].find((candidate) => sameToken(candidate.token, presented));
    if (!grant) return { status: 401, message: "invalid connect token" };
    if (!grant.sandbox.running) return { status: 410, message: `sandbox ${grant.sandbox.sandboxId} has finished` };
    if (!inboundAllowed(grant.sandbox, request.socket.remoteAddress)) {
      return { status: 403, message: `client address ${request.socket.remoteAddress} is not in the sandbox's inboundCidrAllowlist` };
    }
    const address = await containerAddress(grant.sandbox);
    if (!address) return { status: 502, message: `sandbox ${grant.sandbox.sandboxId} has no network address` };
    return { grant, address };
  }

  async #forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const outcome = await this.#authorise(request).catch((error: unknown) => ({ status: 502, message: String(error) }));
    if ("status" in outcome) {
      response.writeHead(outcome.status, { "content-type": "text/plain; charset=utf-8" }).end(`${outcome.message}\n`);
      request.resume();
      return;
    }
    const { grant, address } = outcome;
    const upstream = httpRequest(
      { host: address, port: grant.port, method: request.method, path: request.url, headers: forwardedHeaders(request, grant) },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", (error) => {
      if (!response.headersSent) {
        response
          .writeHead(502, { "content-type": "text/plain; charset=utf-8" })
          .end(`nothing answers on port ${grant.port} of sandbox ${grant.sandbox.sandboxId}: ${error.message}\n`);
      } else response.destroy();
    });
    request.pipe(upstream);
  }

  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => undefined);
    const outcome = await this.#authorise(request).catch((error: unknown) => ({ status: 502, message: String(error) }));
    if ("status" in outcome) {
      socket.end(`HTTP/1.1 ${outcome.status} Refused\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${outcome.message}\n`);
      return;
    }
    const { grant, address } = outcome;
    let connected = false;
    const upstream = connect(grant.port, address, () => {
      connected = true;
      const headers = forwardedHeaders(request, grant);
      const lines = [`${request.method} ${request.url} HTTP/1.1`];
      for (const [name, value] of Object.entries(headers)) {
        for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) lines.push(`${name}: ${item}`);
      }
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    this.#sockets.add(upstream);
    upstream.on("close", () => {
      this.#sockets.delete(upstream);
      if (connected) socket.destroy();
    });
    upstream.on("error", (error) => {
      if (connected) return socket.destroy();
      const message = `nothing answers on port ${grant.port} of sandbox ${grant.sandbox.sandboxId}: ${error.message}`;
      socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
    });
  }
}

function sameToken(expected: string, presented: string): boolean {
  const left = Buffer.from(expected);
  const right = Buffer.from(presented);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The request's headers as the sandbox gets them: no token, the grant's metadata, the original host. */
function forwardedHeaders(request: IncomingMessage, grant: ConnectGrant): IncomingMessage["headers"] {
  const headers = { ...request.headers };
  delete headers.authorization;
  delete headers[USER_METADATA_HEADER];
  if (grant.userMetadata) headers[USER_METADATA_HEADER] = grant.userMetadata;
  return headers;
}

/** The sandbox container's address on its Docker network, or `undefined` without one. */
async function containerAddress(sandbox: SandboxRecord): Promise<string | undefined> {
  const info = await sandbox.container.inspect();
  const networks = Object.values(info.NetworkSettings?.Networks ?? {});
  return networks.map((network) => network?.IPAddress).find((address): address is string => Boolean(address));
}
