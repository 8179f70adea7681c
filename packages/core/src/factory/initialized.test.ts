import { describe, expect, it } from "vitest";
import { initialized } from "./initialized.js";

describe("initialized", () => {
  it("resolves the same handle once initialize() resolved, and rejects with its error", async () => {
    const calls: string[] = [];
    const handle = { initialize: async () => void calls.push("initialize") };
    expect(await initialized(handle)).toBe(handle);
    expect(calls).toEqual(["initialize"]);
    const failure = new Error("no engine");
    await expect(
      initialized({
        initialize: async () => {
          throw failure;
        },
      }),
    ).rejects.toBe(failure);
  });
});
