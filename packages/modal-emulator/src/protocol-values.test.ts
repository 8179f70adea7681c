import { describe, expect, it } from "vitest";
import { createsWhenMissing, ObjectCreationType } from "./protocol-values.js";

describe("createsWhenMissing", () => {
  it("is true for create-if-missing and ephemeral requests only", () => {
    expect(createsWhenMissing(ObjectCreationType.createIfMissing)).toBe(true);
    expect(createsWhenMissing(ObjectCreationType.ephemeral)).toBe(true);
    expect(createsWhenMissing(ObjectCreationType.unspecified)).toBe(false);
    expect(createsWhenMissing(undefined)).toBe(false);
  });
});
