import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { SandboxDefinition } from "./modal-sdk-definitions.js";
import type { SandboxRecord } from "./sandbox-record.js";

/**
 * Tunnels (`encryptedPorts`, `h2Ports`, `unencryptedPorts` at create,
 * `sandbox.tunnels()` later), served offline.
 *
 * Each opened container port is published by the Docker engine on the host's
 * 127.0.0.1 only, on a free host port. `SandboxGetTunnels` answers one
 * `TunnelData` per port in Modal's shape: `host` / `port` is where the
 * tunnel is reached, `containerPort` the port inside, and for an unencrypted
 * port also `unencryptedHost` / `unencryptedPort` (the SDK's `tcpSocket`).
 *
 * What differs from Modal: there is no TLS offline and no public DNS name.
 * `host` is `127.0.0.1` and `port` the published host port, so the SDK's
 * `tunnel.url` reads `https://127.0.0.1:<port>` while the port speaks
 * whatever the server in the sandbox speaks (plain HTTP for a dev server):
 * reach it as `http://127.0.0.1:<port>`. An unencrypted tunnel's TCP socket is
 * the same host port, plain TCP as on Modal. `h2Ports` are published the same
 * way (no HTTP/2 termination). Ports cannot be added to a running sandbox, as
 * on Modal.
 */

/** A port the definition asks to open. */
export interface OpenPort {
  port: number;
  unencrypted: boolean;
}

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
    ports.push({ port, unencrypted: spec.unencrypted === true });
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

/** The tunnels of a running sandbox, read from the engine's port bindings (loopback bindings only). */
export async function tunnelsOf(sandbox: SandboxRecord): Promise<TunnelMessage[]> {
  if (sandbox.openPorts.length === 0) return [];
  const info = await sandbox.container.inspect();
  const bindings = (info.NetworkSettings?.Ports ?? {}) as Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
  const tunnels: TunnelMessage[] = [];
  for (const open of sandbox.openPorts) {
    const binding = bindings[`${open.port}/tcp`]?.find((entry) => entry.HostIp === TUNNEL_HOST && entry.HostPort);
    if (!binding) continue;
    const hostPort = Number(binding.HostPort);
    tunnels.push({
      host: TUNNEL_HOST,
      port: hostPort,
      containerPort: open.port,
      ...(open.unencrypted ? { unencryptedHost: TUNNEL_HOST, unencryptedPort: hostPort } : {}),
    });
  }
  return tunnels;
}
