import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { EngineError, engineMessage, statusOf } from "./engine-errors.js";
import { LABELS } from "./owner-labels.js";

const execFileAsync = promisify(execFile);

/** How long one `iptables` call may take. */
const FIREWALL_COMMAND_TIMEOUT_MS = 10_000;

/**
 * The networks sandboxes join by default. Both are user-defined bridges with
 * inter-container communication off (`enable_icc=false`): a sandbox reaches
 * the internet (through the bridge's NAT) but no other container on the same
 * bridge, and Docker's isolation rules already drop traffic between different
 * bridges. `no-host` adds a host firewall rule on its bridge interface, so
 * nothing on the host itself (any address: the gateway, the host's LAN
 * address, other bridges' gateways) is reachable from a sandbox on it.
 *
 * Created on demand (labelled `dev.sandbox.managed=true`), removed when
 * unused ({@link removeSandboxNetworkIfUnused}).
 */
export const SANDBOX_NETWORKS = Object.freeze({
  isolated: Object.freeze({ name: "sandbox-isolated", bridge: "sbx-isolated" }),
  "no-host": Object.freeze({ name: "sandbox-isolated-nohost", bridge: "sbx-nohost" }),
});

/** One of {@link SANDBOX_NETWORKS}. */
export type SandboxNetworkKind = keyof typeof SANDBOX_NETWORKS;

/** True when `name` is one of the networks this layer manages. */
export function isSandboxNetwork(name: string | undefined): boolean {
  return Object.values(SANDBOX_NETWORKS).some((network) => network.name === name);
}

/**
 * Makes sure the managed network of `kind` exists (and, for `no-host`, that
 * the host firewall rule on its bridge is in place). Safe to call
 * concurrently from several processes. @returns the network's name.
 * @throws EngineError("unknown") when the network or the rule cannot be made.
 */
export function ensureSandboxNetwork(docker: Docker, kind: SandboxNetworkKind): Promise<string> {
  // One check-and-create per network at a time in this process: concurrent creates that all
  // found it missing would each ask the engine for a network, and Docker's duplicate check is
  // not atomic (a burst of 32 got duplicate networks until the address pools ran out).
  const key = SANDBOX_NETWORKS[kind].name;
  const running = ensuring.get(key);
  if (running) return running;
  const ensured = ensureOnce(docker, kind).finally(() => ensuring.delete(key));
  ensuring.set(key, ensured);
  return ensured;
}

const ensuring = new Map<string, Promise<string>>();

async function ensureOnce(docker: Docker, kind: SandboxNetworkKind): Promise<string> {
  const { name, bridge } = SANDBOX_NETWORKS[kind];
  try {
    await docker.getNetwork(name).inspect();
  } catch (error) {
    if (statusOf(error) !== 404) throw new EngineError("engine-unavailable", `could not inspect network ${name}: ${engineMessage(error)}`, { cause: error });
    try {
      await docker.createNetwork({
        Name: name,
        CheckDuplicate: true,
        Driver: "bridge",
        Labels: { [LABELS.managed]: "true" },
        Options: { "com.docker.network.bridge.enable_icc": "false", "com.docker.network.bridge.name": bridge },
      });
    } catch (createError) {
      // Another process created it in between (409, or 403 "same bridge name" when both passed the
      // engine's duplicate check at once): fine if it is there now.
      const status = statusOf(createError);
      const raced = status === 409 || (status === 403 && /same bridge name|already exists/i.test(engineMessage(createError)));
      const exists =
        raced &&
        (await docker
          .getNetwork(name)
          .inspect()
          .then(
            () => true,
            () => false,
          ));
      if (!exists) {
        throw new EngineError("unknown", `could not create the sandbox network ${name}: ${engineMessage(createError)}`, { cause: createError });
      }
    }
  }
  if (kind === "no-host") await ensureHostFirewall(bridge);
  return name;
}

/**
 * Removes a managed network when no container uses it any more. In use,
 * already gone, or being removed by someone else is fine.
 */
export async function removeSandboxNetworkIfUnused(docker: Docker, name: string): Promise<void> {
  if (!isSandboxNetwork(name)) return;
  try {
    const info = (await docker.getNetwork(name).inspect()) as { Containers?: Record<string, unknown> };
    if (Object.keys(info.Containers ?? {}).length > 0) return;
    await docker.getNetwork(name).remove();
  } catch (error) {
    const status = statusOf(error);
    // 403/409: it has active endpoints (a container joined meanwhile); 404: gone.
    if (status === 403 || status === 404 || status === 409) return;
    throw new EngineError("unknown", `could not remove the sandbox network ${name}: ${engineMessage(error)}`, { cause: error });
  }
}

/**
 * Why this process cannot install the host firewall rule of the `no-host`
 * network, or `undefined` when it can: it must run as root on the machine
 * of the Docker engine (a local socket), with `iptables` installed.
 */
export async function hostFirewallUnsupportedReason(docker: Docker): Promise<string | undefined> {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown };
  // dockerode's default client finds the local socket lazily (socketPath is a function then).
  const local = (typeof modem.socketPath === "string" && modem.socketPath !== "") || typeof modem.socketPath === "function";
  if (!local || (typeof modem.host === "string" && modem.host !== "")) {
    return "the Docker engine is not reached through a local socket, so its host's firewall is out of reach";
  }
  if (process.getuid?.() !== 0) return "installing the host firewall rule needs root on the Docker engine's machine";
  const found = await execFileAsync("sh", ["-c", "command -v iptables"]).then(
    () => true,
    () => false,
  );
  if (!found) return "`iptables` is not installed";
  return undefined;
}

/**
 * The rule: on the INPUT chain, anything new arriving from the bridge is
 * rejected (replies to connections the host opened, e.g. published ports,
 * still pass). Inserted first, once (checked with `-C`). It is keyed on the
 * bridge's interface name, so it stays inert while the network does not
 * exist, and is never removed: removing it could race with another process
 * that just joined a sandbox to the network.
 */
async function ensureHostFirewall(bridge: string): Promise<void> {
  const rule = ["INPUT", "-i", bridge, "-m", "conntrack", "!", "--ctstate", "ESTABLISHED,RELATED", "-j", "REJECT"];
  for (const tool of ["iptables", "ip6tables"]) {
    try {
      const present = await execFileAsync(tool, ["-w", "-C", ...rule], { timeout: FIREWALL_COMMAND_TIMEOUT_MS }).then(
        () => true,
        () => false,
      );
      if (!present) await execFileAsync(tool, ["-w", "-I", ...rule], { timeout: FIREWALL_COMMAND_TIMEOUT_MS });
    } catch (error) {
      // No IPv6 support in the kernel means no IPv6 traffic to filter.
      if (tool === "ip6tables" && /not supported|can't initialize|No such file|ENOENT/i.test(String((error as Error).message))) continue;
      throw new EngineError("unknown", `could not install the host firewall rule for ${bridge} (${tool}): ${(error as Error).message}`, { cause: error });
    }
  }
}
