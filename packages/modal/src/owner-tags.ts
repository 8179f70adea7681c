import { randomUUID } from "node:crypto";
import { currentOwner, ownerIsGone as isOwnerGone, type OwnerIdentity } from "@sandbox/core";
import { MODAL_PROVIDER } from "./modal-sandbox-error.js";

export { currentOwner, type OwnerIdentity };

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
    [MODAL_TAGS.provider]: MODAL_PROVIDER,
    [MODAL_TAGS.app]: appName,
    [MODAL_TAGS.ownerHost]: owner.host,
    [MODAL_TAGS.ownerPid]: String(owner.pid),
    [MODAL_TAGS.ownerStart]: owner.start,
    [MODAL_TAGS.runId]: currentRunId(),
    [MODAL_TAGS.expiresAt]: String(now + lifetimeMs),
  };
}

/**
 * Owner pid recorded by `detach()`: the sandbox is meant to outlive its
 * creator and be picked up by another process, so it is never judged
 * orphaned; it ends at its lifetime.
 */
export const DETACHED_OWNER = "detached";

/** Whether the owner recorded in `tags` is provably gone (see core's `ownerIsGone`). */
export function ownerIsGone(tags: Record<string, string>, self: OwnerIdentity = currentOwner()): boolean {
  return isOwnerGone({ host: tags[MODAL_TAGS.ownerHost], pid: tags[MODAL_TAGS.ownerPid], start: tags[MODAL_TAGS.ownerStart] }, self);
}
