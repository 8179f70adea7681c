import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Label keys on every container and volume of this project (local-docker
 * sandboxes and the Modal emulator's containers alike), so one leak check and
 * one reading of "whose is this?" covers both.
 */
export const LABELS = {
  /** `"true"` on everything of this project; what leak checks look for. */
  managed: "dev.sandbox.managed",
  provider: "dev.sandbox.provider",
  app: "dev.sandbox.app",
  name: "dev.sandbox.name",
  ownerHost: "dev.sandbox.owner.host",
  ownerPid: "dev.sandbox.owner.pid",
  /** Owner process start, as `<boot id>:<start ticks>`, so a reused pid is not mistaken for the owner. */
  ownerStart: "dev.sandbox.owner.start",
  /** Epoch milliseconds after which the sandbox may be removed. */
  expiresAt: "dev.sandbox.expires-at",
} as const;

/** Who owns a sandbox: enough to prove later that the owner is gone. */
export interface OwnerIdentity {
  host: string;
  pid: number;
  /** `<boot id>:<start time in clock ticks since boot>`, or `""` where /proc is absent. */
  start: string;
}

/** Reads the start identity of process `pid` from /proc; `""` when unknown, `null` when the process does not exist. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime) comes after the parenthesised command name, which may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = fields[19];
    return `${bootId()}:${startTicks ?? ""}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return "";
  }
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

let cachedSelf: OwnerIdentity | undefined;
/** This process's identity, computed once. */
export function currentOwner(): OwnerIdentity {
  cachedSelf ??= { host: hostname(), pid: process.pid, start: processStart(process.pid) ?? "" };
  return cachedSelf;
}

/**
 * Whether the owner recorded in `labels` is provably gone: same host, and
 * either the machine rebooted since, or no process with that pid exists, or
 * one exists but started at another time (a reused pid). Owners on other
 * hosts are never judged gone: their sandboxes end at their expiry.
 */
export function ownerIsGone(labels: Record<string, string>, self: OwnerIdentity = currentOwner()): boolean {
  if (labels[LABELS.ownerHost] !== self.host) return false;
  const pid = Number(labels[LABELS.ownerPid]);
  const recordedStart = labels[LABELS.ownerStart] ?? "";
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const recordedBoot = recordedStart.split(":")[0];
  const currentBoot = self.start.split(":")[0];
  if (recordedBoot && currentBoot && recordedBoot !== currentBoot) return true;
  const start = processStart(pid);
  if (start === null) return true;
  if (start === "" || recordedStart === "") return false;
  return start !== recordedStart;
}

/** The owner labels of this process, ready to put on a container or volume. */
export function currentOwnerLabels(): Record<string, string> {
  const owner = currentOwner();
  return { [LABELS.ownerHost]: owner.host, [LABELS.ownerPid]: String(owner.pid), [LABELS.ownerStart]: owner.start };
}
