import { execFile } from "node:child_process";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { promisify } from "node:util";
import type { EngineContainer } from "@sandbox/docker-engine";
import { ServerError, Status } from "nice-grpc";

const execFileAsync = promisify(execFile);
/** How long one `nsenter ... iptables` call may take. */
const FIREWALL_COMMAND_TIMEOUT_MS = 10_000;

/** An outbound allowlist, as `NetworkAccess` carries it (networkAccessType ALLOWLIST). */
export interface OutboundAllowlist {
  cidrs: string[];
  domains: string[];
}

/**
 * Checks every CIDR of an allowlist.
 * @throws ServerError INVALID_ARGUMENT naming the first malformed entry.
 */
export function validateCidrs(cidrs: readonly string[], option = "outboundCidrAllowlist"): void {
  for (const cidr of cidrs) {
    const [address = "", prefix, ...rest] = cidr.split("/");
    const family = isIP(address);
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    const valid =
      family !== 0 &&
      rest.length === 0 &&
      Number.isInteger(bits) &&
      bits >= 0 &&
      bits <= (family === 6 ? 128 : 32) &&
      (prefix === undefined || /^\d+$/.test(prefix));
    if (!valid)
      throw new ServerError(Status.INVALID_ARGUMENT, `Invalid CIDR '${cidr}' in ${option}: expected an address with a prefix length, such as 10.0.0.0/8`);
  }
}

/**
 * Why this process cannot enforce allowlists, or `undefined` when it can.
 * Enforcing needs root on the machine that runs the containers, with
 * `nsenter` and `iptables`, and a local engine (the container's network
 * namespace is entered by its pid).
 */
export async function allowlistUnsupportedReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "it must run as root to program a sandbox's firewall";
  const dockerHost = process.env.DOCKER_HOST ?? "";
  if (dockerHost !== "" && !dockerHost.startsWith("unix://")) return `the Docker engine (${dockerHost}) is not on this machine`;
  for (const tool of ["nsenter", "iptables"]) {
    const found = await execFileAsync("sh", ["-c", `command -v ${tool}`]).then(
      () => true,
      () => false,
    );
    if (!found) return `\`${tool}\` is not installed`;
  }
  return undefined;
}

async function resolveDomains(domains: readonly string[]): Promise<string[]> {
  const addresses: string[] = [];
  for (const domain of domains) {
    const pattern = domain.startsWith("*.") ? domain.slice(2) : domain;
    const found = await lookup(pattern, { all: true }).catch(() => []);
    for (const entry of found) addresses.push(`${entry.address}/${entry.family === 6 ? 128 : 32}`);
  }
  return addresses;
}

async function nameservers(container: EngineContainer): Promise<string[]> {
  const chunks: Buffer[] = [];
  try {
    const exec = await container.exec(["cat", "/etc/resolv.conf"], { onStdout: (chunk) => chunks.push(chunk) });
    await exec.done;
  } catch {
    return [];
  }
  return Buffer.concat(chunks)
    .toString("utf8")
    .split("\n")
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((address): address is string => address !== undefined && isIP(address) !== 0);
}

/**
 * Enforces an outbound allowlist on a running container: inside its network
 * namespace (entered from the host with `nsenter`), OUTPUT allows loopback,
 * replies, DNS to the container's resolvers, and the allowed CIDRs (and the
 * addresses the allowed domains resolve to now), and rejects everything else.
 * The sandbox has no CAP_NET_ADMIN, so it cannot undo this.
 *
 * @throws ServerError FAILED_PRECONDITION when the rules cannot be installed.
 */
export async function enforceAllowlist(container: EngineContainer, allowlist: OutboundAllowlist, options: { replace?: boolean } = {}): Promise<void> {
  const pid = (await container.inspect()).State?.Pid;
  if (!pid) throw new ServerError(Status.FAILED_PRECONDITION, "modal-emulator could not find the sandbox's process to program its firewall");
  const allowed = [...allowlist.cidrs, ...(await resolveDomains(allowlist.domains))];
  const resolvers = await nameservers(container);
  for (const [tool, family] of [
    ["iptables", 4],
    ["ip6tables", 6],
  ] as const) {
    const rules: string[][] = [
      // Replacing a policy (`updateNetworkPolicy`) starts from an empty chain.
      ...(options.replace ? [["-F", "OUTPUT"]] : []),
      ["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"],
      ["-A", "OUTPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
    ];
    for (const resolver of resolvers.filter((address) => isIP(address) === family)) {
      for (const protocol of ["udp", "tcp"]) rules.push(["-A", "OUTPUT", "-d", resolver, "-p", protocol, "--dport", "53", "-j", "ACCEPT"]);
    }
    for (const cidr of allowed.filter((entry) => isIP(entry.split("/")[0] ?? "") === family)) rules.push(["-A", "OUTPUT", "-d", cidr, "-j", "ACCEPT"]);
    rules.push(["-A", "OUTPUT", "-j", "REJECT"]);
    try {
      for (const rule of rules) {
        await execFileAsync("nsenter", ["-t", String(pid), "-n", tool, ...rule], { timeout: FIREWALL_COMMAND_TIMEOUT_MS });
      }
    } catch (error) {
      // No IPv6 in the kernel means no IPv6 traffic to filter.
      if (family === 6 && /not supported|protocol not supported|can't initialize|No such file/i.test(String((error as Error).message))) continue;
      throw new ServerError(
        Status.FAILED_PRECONDITION,
        `modal-emulator could not install the sandbox's outbound allowlist (${tool}): ${(error as Error).message}`,
      );
    }
  }
}
