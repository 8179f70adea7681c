import { describe, expect, it } from "vitest";
import { isCI } from "./docker-engine.js";

describe("isCI", () => {
  it("is true for CI=true and CI=1 only", () => {
    expect(isCI({ CI: "true" })).toBe(true);
    expect(isCI({ CI: "1" })).toBe(true);
    for (const value of [undefined, "", "false", "0"]) expect(isCI({ CI: value })).toBe(false);
  });
});
