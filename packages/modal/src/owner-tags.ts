import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Tag names on every sandbox this adapter creates. Plain snake_case keys:
 * Modal tags are free-form strings, and these survive any tag filter.
 */
export const MODAL_TAGS = {
  /** `"true"` on every sandbox of this project; what {@link reap} filters on. */
  managed: "sandbox_managed",
  provider: "sandbox_provider",
  app: "sandbox_app",
  ownerHost: "sandbox_owner_host",
  ownerPid: "sandbox_owner_pid",
  /** Owner process start, `<boot id>:<start ticks>`, so a reused pid is not mistaken for the owner. */
  ownerStart: "sandbox_owner_start",
  /** Id of the run that created it: `SANDBOX_RUN_ID` when set (e.g. a CI job), else one id per process. */
  runId: "sandbox_run_id",
  /** Epoch milliseconds after which the sandbox has outlived its lifetime. */
  expiresAt: "sandbox_expires_at",
} as const;

/** Who owns a sandbox: enough to prove later that the owner is gone. */
export interface OwnerIdentity {
  host: string;
  pid: number;
  /** `<boot id>:<start time in clock ticks since boot>`, or `""` where /proc is absent. */
  start: string;
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

let cachedRunId: string | undefined;
/** `SANDBOX_RUN_ID` when set, else a random id fixed for this process. */
export function currentRunId(): string {
  const fromEnvironment = process.env.SANDBOX_RUN_ID?.trim();
  if (fromEnvironment) return fromEnvironment.slice(0, 128);
  cachedRunId ??= randomUUID();
  return cachedRunId;
}

/** The tags a new sandbox gets. */
export function ownerTags(appName: string, lifetimeMs: number, now: number = Date.now()): Record<string, string> {
  const owner = currentOwner();
  return {
    [MODAL_TAGS.managed]: "true",
    [MODAL_TAGS.provider]: "modal",
    [MODAL_TAGS.app]: appName,
    [MODAL_TAGS.ownerHost]: owner.host,
    [MODAL_TAGS.ownerPid]: String(owner.pid),
    [MODAL_TAGS.ownerStart]: owner.start,
    [MODAL_TAGS.runId]: currentRunId(),
    [MODAL_TAGS.expiresAt]: String(now + lifetimeMs),
  };
}

/**
 * Whether the owner recorded in `tags` is provably gone: same host, and the
 * machine rebooted since, or no process has that pid, or the pid now belongs
 * to a process that started at another time. Owners on other hosts are never
 * judged gone (their sandboxes end at their lifetime).
 */
export function ownerIsGone(tags: Record<string, string>, self: OwnerIdentity = currentOwner()): boolean {
  if (tags[MODAL_TAGS.ownerHost] !== self.host) return false;
  const pid = Number(tags[MODAL_TAGS.ownerPid]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const recordedStart = tags[MODAL_TAGS.ownerStart] ?? "";
  const recordedBoot = recordedStart.split(":")[0];
  const currentBoot = self.start.split(":")[0];
  if (recordedBoot && currentBoot && recordedBoot !== currentBoot) return true;
  const start = processStart(pid);
  if (start === null) return true;
  if (start === "" || recordedStart === "") return false;
  return start !== recordedStart;
}
