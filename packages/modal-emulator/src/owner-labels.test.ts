import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { currentOwnerLabels, OWNER_LABELS, ownerIsGone } from "./owner-labels.js";

describe("owner labels", () => {
  it("judge this process alive, and a free pid on this host gone", () => {
    const labels = currentOwnerLabels();
    expect(labels[OWNER_LABELS.pid]).toBe(String(process.pid));
    expect(ownerIsGone(labels)).toBe(false);
    // Linux pids stay below 2^22; this one is free.
    expect(ownerIsGone({ ...labels, [OWNER_LABELS.pid]: String(2 ** 22 + 1) })).toBe(true);
  });

  it("judge a reused pid gone, and never judge another host's owner gone", () => {
    const labels = currentOwnerLabels();
    const [boot] = (labels[OWNER_LABELS.start] ?? "").split(":");
    expect(ownerIsGone({ ...labels, [OWNER_LABELS.start]: `${boot}:1` })).toBe(true);
    expect(ownerIsGone({ ...labels, [OWNER_LABELS.host]: `${hostname()}-elsewhere`, [OWNER_LABELS.pid]: "999999999" })).toBe(false);
  });
});
