import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Owner labels, with the same keys and meaning as `@sandbox/local-docker`'s,
 * so one leak check and one reading of "whose is this?" covers both.
 */
export const OWNER_LABELS = {
  host: "dev.sandbox.owner.host",
  pid: "dev.sandbox.owner.pid",
  /** `<boot id>:<start ticks>` of the owner process, so a reused pid is not mistaken for it. */
  start: "dev.sandbox.owner.start",
  /** Epoch milliseconds after which the resource may be removed. */
  expiresAt: "dev.sandbox.expires-at",
} as const;

function readBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

/** Start identity of process `pid`; `""` when unknown, `null` when there is no such process. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime) follows the parenthesised command name, which may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${readBootId()}:${fields[19] ?? ""}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? null : "";
  }
}

/** The owner labels of this process. */
export function currentOwnerLabels(): Record<string, string> {
  return {
    [OWNER_LABELS.host]: hostname(),
    [OWNER_LABELS.pid]: String(process.pid),
    [OWNER_LABELS.start]: processStart(process.pid) ?? "",
  };
}

/**
 * True when the owner named by `labels` is provably gone: same host, and the
 * machine rebooted, or the pid is free, or it now belongs to a process that
 * started at another time. Owners on other hosts are never judged gone.
 */
export function ownerIsGone(labels: Record<string, string>): boolean {
  if (labels[OWNER_LABELS.host] !== hostname()) return false;
  const pid = Number(labels[OWNER_LABELS.pid]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const recordedStart = labels[OWNER_LABELS.start] ?? "";
  const recordedBoot = recordedStart.split(":")[0];
  const currentBoot = readBootId();
  if (recordedBoot && currentBoot && recordedBoot !== currentBoot) return true;
  const start = processStart(pid);
  if (start === null) return true;
  if (start === "" || recordedStart === "") return false;
  return start !== recordedStart;
}
