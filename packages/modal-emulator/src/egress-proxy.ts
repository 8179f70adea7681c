import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { connect, createServer, isIP, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createSecureContext, rootCertificates, type SecureContext, TLSSocket, connect as tlsConnect } from "node:tls";
import { readContainerFiles, writeContainerFiles } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { LocalCertificateAuthority } from "./local-ca.js";
import type { EgressRedirect } from "./network-policy.js";
import { type ResolvedHeaderReplacement, type ResolvedOutboundPolicy, replacementFor } from "./outbound-policy.js";

/**
 * The egress proxy behind `experimentalOutboundPolicy`: Modal injects
 * headers into a sandbox's outbound HTTPS requests outside the container;
 * this does it on the emulator's host.
 *
 * A sandbox created with a policy has its outbound TCP connections to port
 * 443 (IPv4) redirected here by a DNAT rule in its network namespace
 * (network-policy.ts), to a listener on its bridge's gateway address. For
 * each connection the proxy finds the sandbox by the client's address and
 * the original destination in the namespace's conntrack table
 * (`/proc/<pid>/net/nf_conntrack`), then reads the TLS ClientHello for its
 * server name (SNI):
 *
 * - a name the policy covers (the first replacement whose domain matches):
 *   TLS is terminated with a certificate for that name signed by the
 *   emulator's CA (which the sandbox was given to trust), each HTTP/1.1
 *   request (and Upgrade) gets the replacement's headers (a header of the
 *   same name the sandbox sent is replaced), and is sent on over a new TLS
 *   connection to the original destination, verified for the same name
 *   against Node's root certificates and `trustedCertificates`;
 * - any other name, no SNI, or not TLS: the bytes are relayed to the
 *   original destination as they are (TLS end to end; nothing decrypted).
 *
 * The policy read is the one in force when the connection was accepted, so
 * `experimentalUpdateOutboundPolicy` applies to new connections. Header
 * values (which may hold secret values) are never logged nor put in an
 * answer.
 */

/** How long a client may take to send its ClientHello before the connection is dropped. */
const CLIENT_HELLO_TIMEOUT_MS = 10_000;
/** The largest TLS record (2^14 bytes of payload, plus expansion) and its 5-byte header. */
const MAX_TLS_RECORD_BYTES = 5 + 16_384 + 2_048;
const TLS_HANDSHAKE_RECORD = 0x16;

/** A sandbox whose outbound HTTPS this proxy handles. */
interface Registration {
  sandboxId: string;
  /** The container's address on its bridge: how its connections are recognised. */
  address: string;
  /** The container's init pid: its network namespace holds the conntrack entries. */
  pid: number;
  policy: ResolvedOutboundPolicy;
  listener: GatewayListener;
}

interface GatewayListener {
  server: Server;
  redirect: EgressRedirect;
  /** Registrations on this bridge, by container address. */
  sandboxes: Map<string, Registration>;
}

/** The original destination of a redirected connection. */
interface Origin {
  address: string;
  port: number;
}

/** What a registration gives the emulator: the redirect to install, and how to change or end it. */
export interface EgressHandle {
  readonly redirect: EgressRedirect;
  /** Replaces the policy for connections accepted from now on. */
  setPolicy(policy: ResolvedOutboundPolicy): void;
  /** Stops handling the sandbox (its connections are refused from now on). */
  release(): void;
}

export interface EgressProxyOptions {
  /** The CA that signs the certificates presented for intercepted names (the one the sandbox trusts). */
  ca: LocalCertificateAuthority;
  /** Extra CA certificates (PEM) trusted for the proxy's own connections to destinations, besides Node's roots. */
  trustedCertificates?: readonly string[];
  /** Receives one line per intercepted connection and per failure (names only, never header values). */
  log?: (line: string) => void;
}

/** The server name in a TLS ClientHello record, or `undefined` (none, or not a ClientHello). */
export function serverNameOf(record: Buffer): string | undefined {
  try {
    if (record[0] !== TLS_HANDSHAKE_RECORD || record[5] !== 1) return undefined;
    let offset = 5 + 4 + 2 + 32;
    offset += 1 + record.readUInt8(offset);
    offset += 2 + record.readUInt16BE(offset);
    offset += 1 + record.readUInt8(offset);
    const end = Math.min(record.length, offset + 2 + record.readUInt16BE(offset));
    offset += 2;
    while (offset + 4 <= end) {
      const type = record.readUInt16BE(offset);
      const size = record.readUInt16BE(offset + 2);
      offset += 4;
      if (type === 0) {
        let entry = offset + 2;
        while (entry + 3 <= offset + size) {
          const nameType = record.readUInt8(entry);
          const length = record.readUInt16BE(entry + 1);
          if (nameType === 0) {
            const name = record.toString("latin1", entry + 3, entry + 3 + length);
            return /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name) && isIP(name) === 0 ? name.toLowerCase() : undefined;
          }
          entry += 3 + length;
        }
        return undefined;
      }
      offset += size;
    }
  } catch {
    // A truncated or malformed hello names nothing.
  }
  return undefined;
}

/**
 * Reads the first TLS record (the ClientHello) from a paused socket, or
 * whatever arrived first when it is not TLS; the bytes are not consumed
 * from the client's point of view: the caller sends them on or unshifts them.
 */
function readClientHello(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error("no ClientHello in time")), CLIENT_HELLO_TIMEOUT_MS);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onEnd);
      socket.pause();
      if (error) reject(error);
      else resolve(buffered);
    };
    const onEnd = () => finish(buffered.length > 0 ? undefined : new Error("the client closed before sending anything"));
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered[0] !== TLS_HANDSHAKE_RECORD) return finish();
      if (buffered.length < 5) return;
      const wanted = 5 + buffered.readUInt16BE(3);
      if (buffered.length >= Math.min(wanted, MAX_TLS_RECORD_BYTES)) finish();
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onEnd);
    socket.resume();
  });
}

/**
 * Checks that the proxy can read the sandbox's conntrack table, where it finds
 * the original destination of each redirected connection.
 * @throws ServerError FAILED_PRECONDITION naming the file when it cannot.
 */
export async function checkConntrackReadable(pid: number): Promise<void> {
  await access(`/proc/${pid}/net/nf_conntrack`, constants.R_OK).catch((error: NodeJS.ErrnoException) =>
    fail(
      Status.FAILED_PRECONDITION,
      `modal-emulator finds the destinations of a sandbox's redirected HTTPS (experimentalOutboundPolicy) in /proc/${pid}/net/nf_conntrack, which it cannot read (${error.code}): the kernel needs CONFIG_NF_CONNTRACK_PROCFS`,
    ),
  );
}

/** The original destination of the connection from `client` (address, port) to the proxy, from the namespace's conntrack table. */
async function originalDestination(pid: number, client: Origin, proxyPort: number): Promise<Origin | undefined> {
  const table = await readFile(`/proc/${pid}/net/nf_conntrack`, "utf8").catch(() => "");
  for (const line of table.split("\n")) {
    const match = / src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) (?:\[\w+\] )?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/.exec(line);
    if (!match) continue;
    const [, source, destination, sourcePort, destinationPort, , , replyPort] = match;
    if (source === client.address && Number(sourcePort) === client.port && Number(replyPort) === proxyPort) {
      return { address: destination!, port: Number(destinationPort) };
    }
  }
  return undefined;
}

/** Hop-by-hop headers: about one connection, so not sent on (the proxy's own connection has its own). */
const HOP_BY_HOP_HEADERS = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"];

/** The request's headers with the replacement applied: each named header replaced (or added). */
function replacedHeaders(headers: IncomingHttpHeaders, replacement: ResolvedHeaderReplacement, hopByHop = true): IncomingHttpHeaders {
  const result = { ...headers };
  if (hopByHop) for (const name of HOP_BY_HOP_HEADERS) delete result[name];
  for (const [name, value] of replacement.headers) {
    delete result[name.toLowerCase()];
    result[name.toLowerCase()] = value;
  }
  return result;
}

/** Per intercepted connection: where it goes and under which replacement. */
interface Interception {
  registration: Registration;
  serverName: string;
  origin: Origin;
  replacement: ResolvedHeaderReplacement;
  /** The proxy's connections to the destination for this client connection (kept alive while it is). */
  agent: HttpsAgent;
}

/** See the top of this file. One listener per bridge gateway, shared by the sandboxes on that bridge. */
export class EgressProxy {
  readonly #ca: LocalCertificateAuthority;
  readonly #upstreamCa: string[];
  readonly #log: ((line: string) => void) | undefined;
  readonly #listeners = new Map<string, Promise<GatewayListener>>();
  readonly #contexts = new Map<string, SecureContext>();
  readonly #interceptions = new WeakMap<Duplex, Interception>();
  readonly #sockets = new Set<Duplex>();
  readonly #http = createHttpServer({ keepAlive: false });

  constructor(options: EgressProxyOptions) {
    this.#ca = options.ca;
    this.#upstreamCa = [...rootCertificates, ...(options.trustedCertificates ?? [])];
    this.#log = options.log;
    this.#http.on("request", (request: IncomingMessage, response: ServerResponse) => this.#forward(request, response));
    this.#http.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head));
    this.#http.on("clientError", (_error, socket: Duplex) => socket.destroy());
  }

  /**
   * Starts handling a running container's outbound HTTPS under `policy`.
   * @param network the container's bridge: its address there and the bridge's gateway.
   */
  async register(sandboxId: string, pid: number, network: { address: string; gateway: string }, policy: ResolvedOutboundPolicy): Promise<EgressHandle> {
    const listener = await this.#listenerOn(network.gateway);
    const registration: Registration = { sandboxId, address: network.address, pid, policy, listener };
    listener.sandboxes.set(network.address, registration);
    return {
      redirect: listener.redirect,
      setPolicy: (next) => {
        registration.policy = next;
      },
      release: () => {
        if (listener.sandboxes.get(network.address) === registration) listener.sandboxes.delete(network.address);
      },
    };
  }

  /** Closes every listener and connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const listeners = await Promise.all([...this.#listeners.values()].map((listener) => listener.catch(() => undefined)));
    this.#listeners.clear();
    await Promise.all(listeners.map((listener) => (listener ? new Promise<void>((resolve) => listener.server.close(() => resolve())) : undefined)));
  }

  #listenerOn(gateway: string): Promise<GatewayListener> {
    let listener = this.#listeners.get(gateway);
    if (!listener) {
      listener = new Promise<GatewayListener>((resolve, reject) => {
        const sandboxes = new Map<string, Registration>();
        const server = createServer({ pauseOnConnect: true }, (socket) => void this.#accept(created, socket));
        const created: GatewayListener = { server, redirect: { address: gateway, port: 0 }, sandboxes };
        server.once("error", reject);
        server.listen(0, gateway, () => {
          created.redirect.port = (server.address() as { port: number }).port;
          resolve(created);
        });
      });
      this.#listeners.set(gateway, listener);
      listener.catch(() => this.#listeners.delete(gateway));
    }
    return listener;
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => undefined);
  }

  async #accept(listener: GatewayListener, socket: Socket): Promise<void> {
    this.#track(socket);
    const address = (socket.remoteAddress ?? "").replace(/^::ffff:/i, "");
    const registration = listener.sandboxes.get(address);
    if (!registration) return void socket.destroy();
    const policy = registration.policy;
    const origin = await originalDestination(registration.pid, { address, port: socket.remotePort ?? 0 }, listener.redirect.port);
    if (!origin) {
      this.#line(registration, `outbound connection from port ${socket.remotePort} dropped: its original destination is not in the conntrack table`);
      return void socket.destroy();
    }
    // Only redirected connections are served: one made to the proxy's own address is not relayed back to it.
    if (origin.address === listener.redirect.address && origin.port === listener.redirect.port) return void socket.destroy();
    const hello = await readClientHello(socket).catch(() => undefined);
    if (!hello) return void socket.destroy();
    const serverName = serverNameOf(hello);
    const replacement = serverName ? replacementFor(policy, serverName) : undefined;
    if (!serverName || !replacement) return this.#relay(socket, hello, origin);
    this.#line(
      registration,
      `outbound HTTPS to ${serverName} (${origin.address}:${origin.port}) matches policy domain ${replacement.domain}: ` +
        `setting ${replacement.headers.map(([name]) => name).join(", ")}`,
    );
    socket.unshift(hello);
    const secure = new TLSSocket(socket, { isServer: true, secureContext: this.#contextFor(serverName), ALPNProtocols: ["http/1.1"] });
    this.#track(secure);
    const agent = new HttpsAgent({ keepAlive: true, ca: this.#upstreamCa });
    secure.on("close", () => agent.destroy());
    this.#interceptions.set(secure, { registration, serverName, origin, replacement, agent });
    this.#http.emit("connection", secure);
  }

  /** Not covered by the policy: the bytes go to the original destination untouched, TLS end to end. */
  #relay(client: Socket, hello: Buffer, origin: Origin): void {
    const upstream = connect(origin.port, origin.address, () => {
      upstream.write(hello);
      upstream.pipe(client);
      client.pipe(upstream);
      client.resume();
    });
    this.#track(upstream);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  }

  #contextFor(serverName: string): SecureContext {
    let context = this.#contexts.get(serverName);
    if (!context) {
      const leaf = this.#ca.issueServerCertificate([serverName]);
      context = createSecureContext({ cert: leaf.certificatePem, key: leaf.keyPem });
      this.#contexts.set(serverName, context);
    }
    return context;
  }

  #forward(request: IncomingMessage, response: ServerResponse): void {
    const interception = this.#interceptions.get(request.socket);
    if (!interception) return void response.destroy();
    const { serverName, origin, replacement, agent } = interception;
    const upstream = httpsRequest(
      {
        host: origin.address,
        port: origin.port,
        servername: serverName,
        ca: this.#upstreamCa,
        method: request.method,
        path: request.url,
        headers: replacedHeaders(request.headers, replacement),
        agent,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", (error) => {
      this.#line(interception.registration, `outbound HTTPS to ${serverName} (${origin.address}:${origin.port}) failed: ${error.message}`);
      if (response.headersSent) return void response.destroy();
      response
        .writeHead(502, { "content-type": "text/plain; charset=utf-8" })
        .end(`modal-emulator's egress proxy could not reach ${serverName} at ${origin.address}:${origin.port}: ${error.message}\n`);
    });
    request.pipe(upstream);
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const interception = this.#interceptions.get(socket);
    if (!interception) return void socket.destroy();
    const { serverName, origin, replacement } = interception;
    const upstream = tlsConnect({ host: origin.address, port: origin.port, servername: serverName, ca: this.#upstreamCa, ALPNProtocols: ["http/1.1"] }, () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`];
      for (const [name, value] of Object.entries(replacedHeaders(request.headers, replacement, false))) {
        for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) lines.push(`${name}: ${item}`);
      }
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    this.#track(upstream);
    upstream.on("error", (error) => {
      this.#line(interception.registration, `outbound HTTPS upgrade to ${serverName} (${origin.address}:${origin.port}) failed: ${error.message}`);
      socket.destroy();
    });
    upstream.on("close", () => socket.destroy());
    socket.on("close", () => upstream.destroy());
  }

  #line(registration: Registration, message: string): void {
    this.#log?.(`modal-emulator: sandbox ${registration.sandboxId}: egress proxy: ${message}`);
  }
}

/** Where a sandbox with a policy finds the emulator's CA alone (`update-ca-certificates` keeps it there). */
export const SANDBOX_CA_PATH = "/usr/local/share/ca-certificates/modal-emulator-egress.crt";
/** The trust bundle the emulator makes sure exists in such a sandbox: the image's bundle plus the CA. */
export const SANDBOX_CA_BUNDLE_PATH = "/etc/ssl/certs/ca-certificates.crt";
/** Other bundles images keep (Alpine, OpenSSL's default, RHEL): the CA is appended to those that exist. */
const OTHER_BUNDLE_PATHS = ["/etc/ssl/cert.pem", "/usr/lib/ssl/cert.pem", "/etc/pki/tls/certs/ca-bundle.crt"];

/**
 * Environment a sandbox with a policy gets, unless its own environment sets
 * them: common TLS clients then trust the emulator's CA (OpenSSL, Python's
 * `ssl` and `requests`, curl, Node).
 */
export const EGRESS_TRUST_ENVIRONMENT: Readonly<Record<string, string>> = {
  SSL_CERT_FILE: SANDBOX_CA_BUNDLE_PATH,
  REQUESTS_CA_BUNDLE: SANDBOX_CA_BUNDLE_PATH,
  CURL_CA_BUNDLE: SANDBOX_CA_BUNDLE_PATH,
  NODE_EXTRA_CA_CERTS: SANDBOX_CA_PATH,
};

/**
 * Installs the emulator's CA in a sandbox's trust store before anything runs
 * in it: the CA alone at {@link SANDBOX_CA_PATH}, appended to the image's
 * bundle at {@link SANDBOX_CA_BUNDLE_PATH} (made from another bundle of the
 * image, or the CA alone, when missing) and to the other bundles the image has.
 */
export async function installEgressTrust(container: Parameters<typeof writeContainerFiles>[0], caPem: string): Promise<void> {
  const paths = [SANDBOX_CA_BUNDLE_PATH, ...OTHER_BUNDLE_PATHS];
  const found = await readContainerFiles(container, paths, { maxBytes: 16 * 1024 * 1024, timeoutMs: 10_000 });
  const contents = new Map(found.flatMap((read) => (read.content ? [[read.path, Buffer.from(read.content).toString("utf8")] as const] : [])));
  const withCa = (bundle: string) => (bundle.includes(caPem) ? bundle : `${bundle}${bundle === "" || bundle.endsWith("\n") ? "" : "\n"}${caPem}`);
  const base = contents.get(SANDBOX_CA_BUNDLE_PATH) ?? OTHER_BUNDLE_PATHS.map((path) => contents.get(path)).find((bundle) => bundle !== undefined) ?? "";
  const writes: Array<[string, Uint8Array]> = [
    [SANDBOX_CA_PATH, Buffer.from(caPem)],
    [SANDBOX_CA_BUNDLE_PATH, Buffer.from(withCa(base))],
    ...OTHER_BUNDLE_PATHS.flatMap((path): Array<[string, Uint8Array]> => {
      const bundle = contents.get(path);
      return bundle === undefined ? [] : [[path, Buffer.from(withCa(bundle))]];
    }),
  ];
  // One at a time: two of the paths may be one file behind a symlink.
  for (const write of writes) {
    const [result] = await writeContainerFiles(container, [write]);
    if (result?.problem) {
      fail(Status.FAILED_PRECONDITION, `modal-emulator could not write ${write[0]} in the sandbox to make it trust the egress proxy's CA: ${result.problem}`);
    }
  }
}
