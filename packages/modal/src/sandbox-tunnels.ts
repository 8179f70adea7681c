import type { Sandbox, Tunnel } from "modal";

/** How long `tunnels()` may wait for Modal to open the tunnels of a new sandbox. */
const TUNNELS_TIMEOUT_MS = 50_000;

function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The URL a caller reaches a tunnel at: Modal's `https://` URL, except for a
 * tunnel on a loopback address. No Modal tunnel is ever on loopback; that is
 * an offline Modal (the emulator), which publishes the port on 127.0.0.1
 * without TLS, so it is reached as `http://`.
 */
export function tunnelUrl(tunnel: Tunnel): string {
  return isLoopbackHost(tunnel.host) ? `http://${tunnel.host}:${tunnel.port}` : tunnel.url;
}

/** The URL of every tunnel of the sandbox, by container port (also on a handle made by `fromId`). */
export async function tunnelUrls(instance: Sandbox): Promise<Record<number, string>> {
  const tunnels = await instance.tunnels(TUNNELS_TIMEOUT_MS);
  const urls: Record<number, string> = {};
  for (const [port, tunnel] of Object.entries(tunnels)) urls[Number(port)] = tunnelUrl(tunnel);
  return urls;
}

/**
 * The SDK's `encryptedPorts` for the common `ports` option: the ports the
 * caller listed there, plus every port of `ports` not already opened as
 * `unencryptedPorts` or `h2Ports` (Modal's default: a TLS tunnel).
 */
export function encryptedPortsFor(options: {
  ports?: number[];
  encryptedPorts?: number[];
  unencryptedPorts?: number[];
  h2Ports?: number[];
}): number[] | undefined {
  if (!options.ports?.length) return options.encryptedPorts;
  const elsewhere = new Set([...(options.unencryptedPorts ?? []), ...(options.h2Ports ?? [])]);
  const ports = new Set(options.encryptedPorts ?? []);
  for (const port of options.ports) if (!elsewhere.has(port)) ports.add(port);
  return [...ports];
}
