/**
 * Shell snippets the suite runs inside sandboxes, and the pure parsers of
 * their output. Only POSIX / busybox tools: sh, cat, printf, ps, ls, awk.
 * Nothing here sends a packet anywhere: the network probes read /proc and
 * /sys only.
 */

export { shellQuote } from "../adapter/shell-quote.js";

/**
 * Lists every process with its full command line. busybox and procps both
 * accept `-eo pid,args`; the fallbacks cover stripped-down `ps` builds.
 * The command itself contains no test marker, so it never matches one.
 */
export const PROCESS_LIST_COMMAND = "ps -eo pid,args 2>/dev/null || ps -o pid,args 2>/dev/null || ps";

/** One line of {@link PROCESS_LIST_COMMAND}'s output. */
export interface ProcessLine {
  pid: number;
  line: string;
}

/** Parses `ps` output into lines that start with a numeric pid (drops the header). */
export function parseProcessList(output: string): ProcessLine[] {
  const processes: ProcessLine[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    const match = /^(\d+)\s/.exec(line);
    if (match) processes.push({ pid: Number(match[1]), line });
  }
  return processes;
}

/**
 * A regular expression matching a `sleep <seconds>` process (or any process
 * whose command line contains that text, such as the shell that started it),
 * but not `sleep <seconds>0`.
 */
export function sleepMarker(seconds: number): RegExp {
  return new RegExp(`\\bsleep ${seconds}(?!\\d)`);
}

const MARKER_BASE = 30_000 + Math.floor(Math.random() * 50_000);
let markerCounter = 0;

/**
 * A sleep duration unique within this test process (random base, so two runs
 * against one provider do not share markers either), used as a marker that
 * `ps` can find: more than 8 hours, so no such process ends on its own while
 * a case looks for it.
 */
export function uniqueSleepSeconds(): number {
  markerCounter += 1;
  return MARKER_BASE + markerCounter * 7;
}

/**
 * Lists network interfaces with their flags (from /sys) and the kernel's
 * interface table and routes (from /proc). Reads files only: no traffic.
 */
export const NETWORK_PROBE_COMMAND = [
  `for interface in $(ls /sys/class/net 2>/dev/null); do printf 'sys %s %s\\n' "$interface" "$(cat /sys/class/net/$interface/flags 2>/dev/null)"; done`,
  `awk 'NR > 2 { sub(/:.*/, "", $1); print "dev", $1 }' /proc/net/dev 2>/dev/null`,
  `awk 'NR > 1 { print "route4", $1, $2, $8 }' /proc/net/route 2>/dev/null`,
  `awk '{ print "route6", $10, $1, $2 }' /proc/net/ipv6_route 2>/dev/null`,
  "true",
].join("; ");

/** What {@link parseNetworkProbe} found. */
export interface NetworkProbe {
  /** Interfaces seen, from /sys or, failing that, /proc/net/dev. */
  interfaces: string[];
  /** Non-loopback interfaces that are up (IFF_UP), or all non-loopback ones when flags are unreadable. */
  activeInterfaces: string[];
  /** Default routes (IPv4 destination 0.0.0.0/0, IPv6 ::/0) not on the loopback device. */
  defaultRoutes: string[];
}

/** Parses {@link NETWORK_PROBE_COMMAND}'s output. */
export function parseNetworkProbe(output: string): NetworkProbe {
  const flagsByInterface = new Map<string, number | undefined>();
  const fromProc = new Set<string>();
  const defaultRoutes: string[] = [];
  for (const line of output.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const [kind, first, second, third] = fields;
    if (kind === "sys" && first) {
      flagsByInterface.set(first, second && /^0x[0-9a-f]+$/i.test(second) ? Number.parseInt(second, 16) : undefined);
    } else if (kind === "dev" && first) {
      fromProc.add(first);
    } else if (kind === "route4" && first && second !== undefined) {
      // /proc/net/route: Iface Destination ... Mask; default is destination and mask 0.
      if (first !== "lo" && second === "00000000" && (third === undefined || third === "00000000")) defaultRoutes.push(`ipv4 default via ${first}`);
    } else if (kind === "route6" && first && second !== undefined) {
      // /proc/net/ipv6_route: destination, prefix length, ..., device last.
      if (first !== "lo" && /^0{32}$/.test(second) && third === "00") defaultRoutes.push(`ipv6 default via ${first}`);
    }
  }
  const interfaces = flagsByInterface.size > 0 ? [...flagsByInterface.keys()] : [...fromProc];
  const activeInterfaces = interfaces.filter((name) => {
    if (name === "lo") return false;
    const flags = flagsByInterface.get(name);
    // Unknown flags: count the interface as active, erring on the side of failing.
    return flags === undefined || (flags & 0x1) === 0x1;
  });
  return { interfaces, activeInterfaces, defaultRoutes };
}

/** Prints the memory limit files of cgroup v2 and v1, whichever exist. */
export const MEMORY_LIMIT_COMMAND = [
  "for file in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do",
  '  if [ -r "$file" ]; then printf \'%s %s\\n\' "$file" "$(cat "$file")"; fi;',
  "done; true",
].join(" ");

/** Prints the CPU quota files of cgroup v2 and v1, whichever exist. */
export const CPU_LIMIT_COMMAND = [
  "if [ -r /sys/fs/cgroup/cpu.max ]; then printf 'v2 %s\\n' \"$(cat /sys/fs/cgroup/cpu.max)\"; fi;",
  "for dir in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpuacct,cpu; do",
  '  if [ -r "$dir/cpu.cfs_quota_us" ]; then printf \'v1 %s %s\\n\' "$(cat "$dir/cpu.cfs_quota_us")" "$(cat "$dir/cpu.cfs_period_us")"; break; fi;',
  "done; true",
].join(" ");

/** A limit read from cgroup files: `null` when no file was readable, `Infinity` when unlimited. */
export interface CgroupReading {
  value: number | null;
  source: string;
}

/** Parses {@link MEMORY_LIMIT_COMMAND}'s output into bytes. */
export function parseMemoryLimit(output: string): CgroupReading {
  for (const line of output.split("\n")) {
    const [file, raw] = line.trim().split(/\s+/);
    if (!file || raw === undefined) continue;
    if (raw === "max") return { value: Number.POSITIVE_INFINITY, source: `${file} = max` };
    const bytes = Number(raw);
    // cgroup v1 spells "unlimited" as a huge page-aligned number.
    if (Number.isFinite(bytes)) return { value: bytes >= 2 ** 60 ? Number.POSITIVE_INFINITY : bytes, source: `${file} = ${raw}` };
  }
  return { value: null, source: "no readable cgroup memory limit file" };
}

/** Parses {@link CPU_LIMIT_COMMAND}'s output into cores (quota / period). */
export function parseCpuLimit(output: string): CgroupReading {
  for (const line of output.split("\n")) {
    const [version, quota, period] = line.trim().split(/\s+/);
    if ((version !== "v1" && version !== "v2") || quota === undefined || period === undefined) continue;
    const source = `cgroup ${version} quota ${quota} period ${period}`;
    if (quota === "max" || quota === "-1") return { value: Number.POSITIVE_INFINITY, source };
    const cores = Number(quota) / Number(period);
    if (Number.isFinite(cores) && cores > 0) return { value: cores, source };
  }
  return { value: null, source: "no readable cgroup CPU quota file" };
}
