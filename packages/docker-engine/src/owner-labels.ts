import { currentOwner, ownerIsGone as isOwnerGone, type OwnerIdentity, processStart } from "@sandbox/core/host-tools";

export { currentOwner, type OwnerIdentity, processStart };

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

/** Whether the owner recorded in `labels` is provably gone (see core's `ownerIsGone`). */
export function ownerIsGone(labels: Record<string, string>, self: OwnerIdentity = currentOwner()): boolean {
  return isOwnerGone({ host: labels[LABELS.ownerHost], pid: labels[LABELS.ownerPid], start: labels[LABELS.ownerStart] }, self);
}

/** The owner labels of this process, ready to put on a container or volume. */
export function currentOwnerLabels(): Record<string, string> {
  const owner = currentOwner();
  return { [LABELS.ownerHost]: owner.host, [LABELS.ownerPid]: String(owner.pid), [LABELS.ownerStart]: owner.start };
}
