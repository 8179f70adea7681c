import { type AddressInfo, BlockList, connect, createServer, isIP, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { LocalCertificateAuthority } from "./local-ca.js";
import type { SandboxDefinition } from "./modal-sdk-definitions.js";
import type { SandboxRecord } from "./sandbox-record.js";

/**
 * Tunnels (`encryptedPorts`, `h2Ports`, `unencryptedPorts` at create,
 * `sandbox.tunnels()` later), served offline by {@link TunnelServer}.
 *
 * Each opened container port gets a TLS listener of the emulator on
 * 127.0.0.1, on a free port, that forwards every connection to the port on
 * the container's address. `SandboxGetTunnels` answers one `TunnelData` per
 * port in Modal's shape: `host` / `port` is the TLS listener (the SDK's
 * `tlsSocket` and `url`), `containerPort` the port inside. An unencrypted
 * port has, as on Modal, a plain TCP listener besides, reported as
 * `unencryptedHost` / `unencryptedPort` (the SDK's `tcpSocket`).
 *
 * The TLS listeners terminate TLS as Modal's edge does, with a certificate
 * for `127.0.0.1` and `localhost` signed by the emulator's own CA
 * (local-ca.ts; a client trusts it with the CA file, e.g.
 * `NODE_EXTRA_CA_CERTS`), and forward the decrypted bytes. `h2Ports`
 * negotiate HTTP/2 by ALPN (`h2`) and forward the HTTP/2 connection as it
 * is, so the server in the sandbox speaks HTTP/2 (cleartext, prior
 * knowledge) end to end; other ports negotiate `http/1.1`. A connection to a
 * TLS listener that does not start with a TLS handshake (plain `http://`) is
 * closed before anything reaches the sandbox: only `unencryptedPort` speaks
 * plain TCP.
 *
 * `inboundCidrAllowlist` is checked on each connection against the client's
 * address: a client outside it is reset before a byte is read. Ports cannot
 * be added to a running sandbox, as on Modal.
 */

/** A port the definition asks to open. */
export interface OpenPort {
  port: number;
  unencrypted: boolean;
  /** An `h2Ports` port: TLS with HTTP/2 negotiated (`TUNNEL_TYPE_H2`). */
  h2: boolean;
}

/** `TunnelType.TUNNEL_TYPE_H2` of the SDK's `PortSpec`. */
const TUNNEL_TYPE_H2 = 1;

/** Where the emulator publishes tunnels: loopback only, never another interface. */
export const TUNNEL_HOST = "127.0.0.1";

/** The ports of `definition.openPorts`, checked: whole numbers 1-65535, each once. */
export function checkOpenPorts(definition: Partial<SandboxDefinition>): OpenPort[] {
  const seen = new Set<number>();
  const ports: OpenPort[] = [];
  for (const spec of definition.openPorts?.ports ?? []) {
    const port = spec.port ?? 0;
    if (!Number.isInteger(port) || port < 1 || port > 65_535) fail(Status.INVALID_ARGUMENT, `Invalid port ${String(port)}: ports are 1-65535`);
    if (seen.has(port)) fail(Status.INVALID_ARGUMENT, `Port ${port} is opened twice`);
    seen.add(port);
    ports.push({ port, unencrypted: spec.unencrypted === true, h2: spec.tunnelType === TUNNEL_TYPE_H2 });
  }
  return ports;
}

/** A `TunnelData` message, as Modal sends it. */
export interface TunnelMessage {
  host: string;
  port: number;
  containerPort: number;
  unencryptedHost?: string;
  unencryptedPort?: number;
}

/** The tunnels of a running sandbox: one per listener {@link TunnelServer} opened for it. */
export async function tunnelsOf(sandbox: SandboxRecord): Promise<TunnelMessage[]> {
  return [...(listenersOf.get(sandbox) ?? [])].map((listener) => listener.tunnel);
}

interface TunnelListener {
  /** The TLS listener, and for an unencrypted port the plain TCP one. */
  servers: Server[];
  tunnel: TunnelMessage;
}

/** The listeners of each sandbox with ports (the record knows nothing of them). */
const listenersOf = new WeakMap<SandboxRecord, TunnelListener[]>();

/** An inbound allowlist: which client addresses may connect to a sandbox's tunnels and connect tokens. */
export class InboundAllowlist {
  readonly cidrs: readonly string[];
  readonly #list = new BlockList();

  /** @param cidrs checked CIDRs (`validateCidrs`), IPv4 or IPv6. */
  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs;
    for (const cidr of cidrs) {
      const [address = "", prefix] = cidr.split("/");
      const family = isIP(address) === 6 ? "ipv6" : "ipv4";
      this.#list.addSubnet(address, prefix === undefined ? (family === "ipv6" ? 128 : 32) : Number(prefix), family);
    }
  }

  /** Whether a client at `address` (as `socket.remoteAddress` gives it) may connect. */
  allows(address: string | undefined): boolean {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    return this.#list.check(plain, isIP(plain) === 6 ? "ipv6" : "ipv4");
  }
}

/** The inbound allowlist of each sandbox created with one. */
const inboundAllowlists = new WeakMap<SandboxRecord, InboundAllowlist>();

/** Whether a client at `address` may reach the sandbox (always, without an `inboundCidrAllowlist`). */
export function inboundAllowed(sandbox: SandboxRecord, address: string | undefined): boolean {
  return inboundAllowlists.get(sandbox)?.allows(address) ?? true;
}

/** The first byte of a TLS connection: a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * The emulator's tunnel listeners (see the top of this file): opened when a
 * sandbox with ports is created, closed when it ends or the emulator stops.
 */
export class TunnelServer {
  readonly #ca: LocalCertificateAuthority;
  readonly #open = new Set<TunnelListener>();
  readonly #sockets = new Set<Socket>();

  constructor(ca: LocalCertificateAuthority) {
    this.#ca = ca;
  }

  /** Opens the sandbox's tunnels and records its inbound allowlist. */
  async open(sandbox: SandboxRecord, ports: readonly OpenPort[], inboundCidrs: readonly string[]): Promise<void> {
    if (inboundCidrs.length > 0) inboundAllowlists.set(sandbox, new InboundAllowlist(inboundCidrs));
    if (ports.length === 0) return;
    const listeners: TunnelListener[] = [];
    listenersOf.set(sandbox, listeners);
    void sandbox.ended.then(() => this.#closeAll(listeners));
    for (const open of ports) listeners.push(await this.#listen(sandbox, open));
  }

  /** Closes every listener and connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await this.#closeAll([...this.#open]);
  }

  async #closeAll(listeners: readonly TunnelListener[]): Promise<void> {
    for (const listener of listeners) this.#open.delete(listener);
    const servers = listeners.flatMap((listener) => listener.servers);
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  async #listen(sandbox: SandboxRecord, open: OpenPort): Promise<TunnelListener> {
    const tls = createTlsServer({
      cert: this.#ca.serverCertificatePem,
      key: this.#ca.serverKeyPem,
      ALPNProtocols: open.h2 ? ["h2"] : ["http/1.1"],
    });
    tls.on("secureConnection", (secured: TLSSocket) => this.#forward(sandbox, open.port, secured));
    tls.on("tlsClientError", (_error, socket) => socket.destroy());
    const servers = [await this.#serve(sandbox, open.port, tls)];
    if (open.unencrypted) {
      const plain = await this.#serve(sandbox, open.port, undefined).catch((error: unknown) => {
        servers[0]!.close();
        throw error;
      });
      servers.push(plain);
    }
    const [tlsPort, plainPort] = servers.map((server) => (server.address() as AddressInfo).port);
    const listener: TunnelListener = {
      servers,
      tunnel: {
        host: TUNNEL_HOST,
        port: tlsPort!,
        containerPort: open.port,
        ...(plainPort !== undefined ? { unencryptedHost: TUNNEL_HOST, unencryptedPort: plainPort } : {}),
      },
    };
    this.#open.add(listener);
    return listener;
  }

  /**
   * A listener on 127.0.0.1 for one port of the sandbox: with `tls`, only
   * TLS connections get through (terminated there); without, plain TCP.
   */
  async #serve(sandbox: SandboxRecord, port: number, tls: TlsServer | undefined): Promise<Server> {
    const server = createServer({ pauseOnConnect: true }, (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      socket.on("error", () => undefined);
      if (!inboundAllowed(sandbox, socket.remoteAddress)) {
        // Outside inboundCidrAllowlist: reset before anything is read.
        socket.resetAndDestroy();
        return;
      }
      if (!tls) return this.#forward(sandbox, port, socket);
      socket.once("readable", () => {
        const first = socket.read(1) as Buffer | null;
        // Not a TLS handshake (plain http://, say): closed, as Modal's TLS edge does not let it through.
        if (!first || first[0] !== TLS_HANDSHAKE_RECORD) return socket.destroy();
        socket.unshift(first);
        tls.emit("connection", socket);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, TUNNEL_HOST, () => resolve());
    });
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("a tunnel listener has no TCP address");
    return server;
  }

  /** Pipes a client connection to the port on the sandbox's container address. */
  #forward(sandbox: SandboxRecord, port: number, client: Socket): void {
    this.#sockets.add(client);
    client.on("close", () => this.#sockets.delete(client));
    client.on("error", () => undefined);
    void containerAddress(sandbox).then(
      (address) => {
        if (!address || !sandbox.running) return client.destroy();
        const upstream = connect(port, address);
        this.#sockets.add(upstream);
        upstream.on("close", () => {
          this.#sockets.delete(upstream);
          client.destroy();
        });
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
        upstream.pipe(client);
        client.pipe(upstream);
        client.resume();
      },
      () => client.destroy(),
    );
  }
}

/** The sandbox container's address on its Docker network, or `undefined` without one. */
async function containerAddress(sandbox: SandboxRecord): Promise<string | undefined> {
  const info = await sandbox.container.inspect();
  const networks = Object.values(info.NetworkSettings?.Networks ?? {});
  return networks.map((network) => network?.IPAddress).find((address): address is string => Boolean(address));
}
