import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * What the host's /proc says about processes. Sandboxes are identified by
 * their root directory: every process inside one has it as its root
 * (`/proc/<pid>/root`), which also guards against a recorded pid having been
 * reused by an unrelated process.
 */

function pids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The root directory of a process, or `undefined` when it is gone. */
export function rootOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/root`);
  } catch {
    return undefined;
  }
}

/** The direct children of a process (read from each process's stat line). */
export function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const pid of pids()) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[1]) === parent) children.push(pid);
  }
  return children;
}

/** Every process whose root directory is `root`. */
export function processesRootedAt(root: string): number[] {
  return pids().filter((pid) => rootOf(pid) === root);
}

/** Sends SIGKILL, ignoring a process that is already gone. */
export function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
