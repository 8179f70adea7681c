import type { Sandbox } from "modal";

/** How long `tunnels()` may wait for Modal to open the tunnels of a new sandbox. */
const TUNNELS_TIMEOUT_MS = 50_000;

/**
 * The URL of every tunnel of the sandbox, by container port (also on a handle
 * made by `fromId`): the SDK's `tunnel.url`, Modal's `https://` URL, as it is.
 * An offline Modal (the emulator) serves it over TLS with its own CA, which
 * the client trusts (README: "Trusting the emulator's CA").
 */
export async function tunnelUrls(instance: Sandbox): Promise<Record<number, string>> {
  const tunnels = await instance.tunnels(TUNNELS_TIMEOUT_MS);
  const urls: Record<number, string> = {};
  for (const [port, tunnel] of Object.entries(tunnels)) urls[Number(port)] = tunnel.url;
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
