import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Who owns a sandbox: enough to prove later that the owner process is gone.
 * Adapters record it as labels or tags on every sandbox they create, so a
 * reaper can remove the sandboxes of crashed owners and of nobody else.
 */
export interface OwnerIdentity {
  host: string;
  pid: number;
  /** `<boot id>:<start time in clock ticks since boot>`, or `""` where /proc is absent. */
  start: string;
}

/** An owner as read back from labels or tags (strings, possibly missing). */
export interface RecordedOwner {
  host?: string;
  pid?: string;
  start?: string;
}

let cachedBootId: string | undefined;
function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      cachedBootId = "";
    }
  }
  return cachedBootId;
}

/** Start identity of process `pid`: `""` when unknown, `null` when no such process exists. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime) follows the parenthesised command name, which may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${bootId()}:${fields[19] ?? ""}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return "";
  }
}

let cachedOwner: OwnerIdentity | undefined;
/** This process's identity, computed once. */
export function currentOwner(): OwnerIdentity {
  cachedOwner ??= { host: hostname(), pid: process.pid, start: processStart(process.pid) ?? "" };
  return cachedOwner;
}

/**
 * Whether a recorded owner is provably gone: same host, and either the
 * machine rebooted since, or no process has that pid, or the pid now belongs
 * to a process that started at another time (a reused pid). Owners on other
 * hosts are never judged gone: their sandboxes end at their lifetime.
 */
export function ownerIsGone(recorded: RecordedOwner, self: OwnerIdentity = currentOwner()): boolean {
  if (recorded.host !== self.host) return false;
  const pid = Number(recorded.pid);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const recordedStart = recorded.start ?? "";
  const recordedBoot = recordedStart.split(":")[0];
  const currentBoot = self.start.split(":")[0];
  if (recordedBoot && currentBoot && recordedBoot !== currentBoot) return true;
  const start = processStart(pid);
  if (start === null) return true;
  if (start === "" || recordedStart === "") return false;
  return start !== recordedStart;
}
