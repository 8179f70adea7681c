import type { EngineContainer } from "@sandbox/docker-engine";

/**
 * URLs of the ports published at create time, read from the engine (so a
 * handle made by `fromId` sees them too): `http://127.0.0.1:<host port>`.
 * Only bindings on the loopback interface are reported.
 */
export async function portUrls(container: EngineContainer): Promise<Record<number, string>> {
  const info = await container.inspect();
  const bindings = (info.NetworkSettings?.Ports ?? {}) as Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
  const urls: Record<number, string> = {};
  for (const [key, hosts] of Object.entries(bindings)) {
    const match = /^(\d+)\/tcp$/.exec(key);
    const binding = hosts?.find((host) => host.HostIp === "127.0.0.1" && host.HostPort);
    if (match && binding) urls[Number(match[1])] = `http://127.0.0.1:${binding.HostPort}`;
  }
  return urls;
}
