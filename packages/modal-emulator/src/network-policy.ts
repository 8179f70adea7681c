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

/** Where a sandbox's outbound HTTPS (TCP port 443, IPv4) is redirected: the emulator's egress proxy (egress-proxy.ts). */
export interface EgressRedirect {
  address: string;
  port: number;
}

/** The nat chain the emulator owns in a sandbox's network namespace (Docker's own nat rules there are left alone). */
const EGRESS_CHAIN = "MODAL_EGRESS";

async function containerPid(container: EngineContainer): Promise<number> {
  const pid = (await container.inspect()).State?.Pid;
  if (!pid) throw new ServerError(Status.FAILED_PRECONDITION, "modal-emulator could not find the sandbox's process to program its firewall");
  return pid;
}

async function inNamespace(pid: number, tool: string, rule: readonly string[]): Promise<void> {
  await execFileAsync("nsenter", ["-t", String(pid), "-n", tool, ...rule], { timeout: FIREWALL_COMMAND_TIMEOUT_MS });
}

/**
 * Redirects the sandbox's outbound TCP connections to port 443 (IPv4) to
 * the egress proxy with a DNAT rule in its network namespace; with an
 * allowlist, only connections to allowed addresses are redirected (the
 * others stay rejected by the allowlist's filter rules). The proxy learns
 * each connection's original destination from the namespace's conntrack
 * table. Replaces any redirect installed before.
 *
 * @param allowed the allowlist's IPv4 CIDRs, or `undefined` for an open network.
 * @throws ServerError FAILED_PRECONDITION when the rules cannot be installed.
 */
async function redirectEgress(pid: number, redirect: EgressRedirect, allowed: readonly string[] | undefined): Promise<void> {
  const target = ["-j", "DNAT", "--to-destination", `${redirect.address}:${redirect.port}`];
  const destinations = allowed === undefined ? [["!", "-d", "127.0.0.0/8"]] : allowed.map((cidr) => ["-d", cidr]);
  try {
    await inNamespace(pid, "iptables", ["-t", "nat", "-N", EGRESS_CHAIN]).catch(() => undefined);
    await inNamespace(pid, "iptables", ["-t", "nat", "-F", EGRESS_CHAIN]);
    const jumps = await inNamespace(pid, "iptables", ["-t", "nat", "-C", "OUTPUT", "-j", EGRESS_CHAIN]).then(
      () => true,
      () => false,
    );
    if (!jumps) await inNamespace(pid, "iptables", ["-t", "nat", "-A", "OUTPUT", "-j", EGRESS_CHAIN]);
    for (const destination of destinations) {
      await inNamespace(pid, "iptables", ["-t", "nat", "-A", EGRESS_CHAIN, "-p", "tcp", "--dport", "443", ...destination, ...target]);
    }
  } catch (error) {
    throw new ServerError(
      Status.FAILED_PRECONDITION,
      `modal-emulator could not redirect the sandbox's outbound HTTPS to its egress proxy (iptables): ${(error as Error).message}`,
    );
  }
}

/** Installs the egress redirect of a sandbox with an open network (no allowlist): see {@link redirectEgress}. */
export async function redirectOpenEgress(container: EngineContainer, redirect: EgressRedirect): Promise<void> {
  await redirectEgress(await containerPid(container), redirect, undefined);
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
export async function enforceAllowlist(
  container: EngineContainer,
  allowlist: OutboundAllowlist,
  options: { replace?: boolean; egress?: EgressRedirect | undefined } = {},
): Promise<void> {
  const pid = await containerPid(container);
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
    // HTTPS to an allowed address, redirected to the egress proxy (only those are: see redirectEgress).
    if (options.egress && family === 4) {
      rules.push([
        "-A",
        "OUTPUT",
        "-d",
        options.egress.address,
        "-p",
        "tcp",
        "--dport",
        String(options.egress.port),
        "-m",
        "conntrack",
        "--ctstate",
        "DNAT",
        "-j",
        "ACCEPT",
      ]);
    }
    rules.push(["-A", "OUTPUT", "-j", "REJECT"]);
    try {
      for (const rule of rules) await inNamespace(pid, tool, rule);
    } catch (error) {
      // No IPv6 in the kernel means no IPv6 traffic to filter.
      if (family === 6 && /not supported|protocol not supported|can't initialize|No such file/i.test(String((error as Error).message))) continue;
      throw new ServerError(
        Status.FAILED_PRECONDITION,
        `modal-emulator could not install the sandbox's outbound allowlist (${tool}): ${(error as Error).message}`,
      );
    }
  }
  if (options.egress)
    await redirectEgress(
      pid,
      options.egress,
      allowed.filter((entry) => isIP(entry.split("/")[0] ?? "") === 4),
    );
}
