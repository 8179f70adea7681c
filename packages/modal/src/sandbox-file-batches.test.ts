import type { Sandbox } from "modal";
import { describe, expect, it } from "vitest";
import { BATCH_MAX_BYTES, batchablePath, parseReadOutput, planReadBatches, planWriteBatches, writeBatch } from "./sandbox-file-batches.js";

const TOKEN = "0123456789abcdef0123456789abcdef";
const bytes = (text: string) => new TextEncoder().encode(text);

/** A read script answer: the header lines, the contents, the trailer's word, the end line. */
function answer(headers: string[], contents: string, trailer = "ok", endLine = `end ${TOKEN}\n`): Buffer {
  return Buffer.from(`${headers.map((header) => `${header}\n`).join("")}data ${TOKEN}\n${contents}\n${TOKEN} ${trailer}\n${endLine}`, "latin1");
}

describe("parseReadOutput", () => {
  it("settles contents, directories and missing paths, and leaves skipped paths", () => {
    const outcomes = parseReadOutput(answer(["0 ok 2", "1 is_directory", "2 skip", "3 ok 0", "4 file_not_found", "5 ok 3"], "ab\nxy"), TOKEN, 6);
    expect(outcomes).toEqual([
      { content: bytes("ab"), error: null },
      { content: null, error: "is_directory" },
      undefined,
      { content: bytes(""), error: null },
      { content: null, error: "file_not_found" },
      { content: bytes("\nxy"), error: null },
    ]);
  });

  it("trusts no content when a file shrank while read (the token is out of place)", () => {
    const outcomes = parseReadOutput(answer(["0 ok 5", "1 is_directory"], "abc"), TOKEN, 2);
    expect(outcomes).toEqual([undefined, { content: null, error: "is_directory" }]);
  });

  it("trusts no content when a size moved while read", () => {
    expect(parseReadOutput(answer(["0 ok 2", "1 ok 1"], "abc", "changed"), TOKEN, 2)).toEqual([undefined, undefined]);
  });

  it("settles nothing from an answer cut short, out of order, or refused", () => {
    expect(parseReadOutput(answer(["0 ok 2"], "ab", "ok", ""), TOKEN, 1)).toEqual([undefined]);
    expect(parseReadOutput(answer(["1 is_directory", "0 is_directory"], ""), TOKEN, 2)).toEqual([undefined, undefined]);
    expect(parseReadOutput(answer(["0 is_directory"], ""), TOKEN, 2)).toEqual([undefined, undefined]);
    expect(parseReadOutput(Buffer.from("unsupported\n"), TOKEN, 1)).toEqual([undefined]);
    expect(parseReadOutput(answer(["0 weird"], ""), TOKEN, 1)).toEqual([undefined]);
  });
});

describe("batch plans", () => {
  it("takes only absolute, normalized paths (anything else is decided per file)", () => {
    expect(["/a/b", "/a b/ü\nx"].every(batchablePath)).toBe(true);
    expect(["relative", "/", "/a/../b", "/a//b", "/a/", "/a/./b", "/nul\0"].some(batchablePath)).toBe(false);
  });

  it("batches 3 files or more, 256 per exec, within the byte budget", () => {
    const small = (count: number) => Array.from({ length: count }, (_, index): [string, Uint8Array] => [`/f${index}`, new Uint8Array(1)]);
    expect(planWriteBatches(small(2))).toEqual([]);
    expect(planWriteBatches(small(300)).map((batch) => batch.length)).toEqual([256, 44]);
    expect(planWriteBatches(small(258)).map((batch) => batch.length)).toEqual([256]);
    const big: Array<[string, Uint8Array]> = Array.from({ length: 6 }, (_, index) => [`/big${index}`, new Uint8Array(BATCH_MAX_BYTES / 4)]);
    expect(planWriteBatches(big).map((batch) => batch.length)).toEqual([4]);
    expect(planWriteBatches([...small(2), ["relative", new Uint8Array(1)], ["/x", new Uint8Array(1)]])).toEqual([[0, 1, 3]]);
    expect(planReadBatches(["/a", "/b", "/c/../d", "/e"])).toEqual([[0, 1, 3]]);
  });
});

describe("writeBatch", () => {
  it("vouches for nothing and leaves no unhandled rejection when the exec's streams fail (a failure must not end the host process)", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", record);
    try {
      const broken = { stdin: { writeBytes: () => Promise.reject(new Error("stdin gone")), close: () => Promise.resolve() } };
      const instances = [
        { exec: async () => broken }, // no stdout: reading the answer fails before anything awaits the feeding
        { exec: async () => ({ ...broken, stdout: { readBytes: () => Promise.reject(new Error("stdout gone")) }, wait: () => Promise.resolve(0) }) },
      ];
      for (const instance of instances) {
        const outcomes = await writeBatch(instance as unknown as Sandbox, [
          ["/a", bytes("1")],
          ["/b", bytes("2")],
          ["/c", bytes("3")],
        ]);
        expect(outcomes).toEqual([undefined, undefined, undefined]);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", record);
    }
  });
});
