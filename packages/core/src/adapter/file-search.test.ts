import { BaseSandbox } from "deepagents";
import { describe, expect, it } from "vitest";
import { grepCommand, grepResultOfOutput } from "./file-search.js";

// The parsing side of an adapter's own grep (file-search.ts): deepagents'
// BaseSandbox.grep reads the output as it reads its command's. Parity with
// the command on real BusyBox and GNU images is in
// packages/local-docker/test/file-search-parity.integration.test.ts.

/** BaseSandbox.grep on a stand-in whose execute prints `output` for any command, and the command it ran. */
async function fromBaseSandbox(output: string, ...args: [string, string, string | null, number | null]) {
  let ran = "";
  const standIn = {
    execute: async (command: string) => {
      ran = command;
      return { output, exitCode: 0, truncated: false };
    },
  };
  const result = await (BaseSandbox.prototype.grep as (this: unknown, ...rest: unknown[]) => Promise<unknown>).call(standIn, ...args);
  return { result, ran };
}

describe("grepResultOfOutput", () => {
  const output = "/w/a.py:1:x: y\n/w/pic.png:2:needle\n/w/b.txt:3:needle  \n";

  it.each([
    ["needle", "/w", null, null],
    ["it's", "/w dir", "*.py", null],
    ["needle", "/w", null, 1],
  ] as const)("is BaseSandbox.grep's answer for its command's output (%s in %s, glob %s, maxCount %s)", async (pattern, path, glob, maxCount) => {
    const expected = await fromBaseSandbox(output, pattern, path, glob, maxCount);
    expect(expected.ran, "the command grepCommand spells").toBe(grepCommand(pattern, path, glob));
    expect(await grepResultOfOutput(output, pattern, path, glob, maxCount)).toEqual(expected.result);
  });

  it("drops non-text files, keeps colons in the text and trims the output's end, as BaseSandbox does", async () => {
    expect(await grepResultOfOutput(output, "needle", "/w", null, null)).toEqual({
      matches: [
        { path: "/w/a.py", line: 1, text: "x: y" },
        { path: "/w/b.txt", line: 3, text: "needle" },
      ],
    });
  });

  it("is undefined when BaseSandbox.grep would run another command (the caller then runs it)", async () => {
    const original = BaseSandbox.prototype.grep;
    BaseSandbox.prototype.grep = async function (this: { execute(command: string): Promise<unknown> }, pattern: string) {
      await this.execute(`rg -n ${pattern}`);
      return { matches: [] };
    };
    try {
      expect(await grepResultOfOutput(output, "needle", "/w", null, null)).toBeUndefined();
    } finally {
      BaseSandbox.prototype.grep = original;
    }
  });
});
