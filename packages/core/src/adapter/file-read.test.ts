import { BaseSandbox } from "deepagents";
import { describe, expect, it } from "vitest";
import { readCommand, readResultOfFile } from "./file-read.js";

// The formatting side of an adapter's own read (file-read.ts): the awk
// command's output made from the file's bytes. Parity with the command on
// real BusyBox and mawk is in
// packages/local-docker/test/file-read-parity.integration.test.ts.

const encoder = new TextEncoder();
const noDownloads = async () => [];

/** What BaseSandbox.read answers when its command prints `output` with `exitCode`, and the command it ran. */
async function fromBaseSandbox(output: string, exitCode: number, path: string, offset?: number, limit?: number) {
  let ran = "";
  const standIn = {
    downloadFiles: noDownloads,
    execute: async (command: string) => {
      ran = command;
      return { output, exitCode, truncated: false };
    },
  };
  const result = await (BaseSandbox.prototype.read as (this: unknown, ...rest: unknown[]) => Promise<unknown>).call(standIn, path, offset, limit);
  return { result, ran };
}

describe("readResultOfFile", () => {
  it("numbers lines as awk's printf does and pages as BaseSandbox does", async () => {
    const file = { content: encoder.encode("one\ntwo\r\nthree"), bytesAsText: true };
    const output = "     2\ttwo\r\n     3\tthree\n__DEEPAGENTS_READ_METADATA__\t3\n";
    const expected = await fromBaseSandbox(output, 0, "/w/a.txt", 1, 5);
    expect(expected.ran).toBe(readCommand("/w/a.txt", 1, 5));
    expect(await readResultOfFile(file, "/w/a.txt", 1, 5, 1_048_576, noDownloads)).toEqual(expected.result);
  });

  it("answers a missing file and an empty one as the command's echo lines do", async () => {
    expect(await readResultOfFile({ missing: true }, "/w/x.txt", 0, 500, 1_048_576, noDownloads)).toEqual(
      (await fromBaseSandbox("Error: File not found\n", 1, "/w/x.txt")).result,
    );
    const empty = { content: new Uint8Array(0), bytesAsText: true };
    expect(await readResultOfFile(empty, "/w/e.txt", 0, 500, 1_048_576, noDownloads)).toEqual(
      (await fromBaseSandbox("System reminder: File exists but has empty contents\n", 0, "/w/e.txt")).result,
    );
  });

  it("is undefined where awk could print the file otherwise: a NUL byte, or a byte over 0x7f to an awk reading characters", async () => {
    expect(await readResultOfFile({ content: encoder.encode("a\0b\n"), bytesAsText: true }, "/w/n.txt", 0, 500, 1_048_576, noDownloads)).toBeUndefined();
    expect(await readResultOfFile({ content: encoder.encode("café\n"), bytesAsText: false }, "/w/c.txt", 0, 500, 1_048_576, noDownloads)).toBeUndefined();
    expect(await readResultOfFile({ content: encoder.encode("café\n"), bytesAsText: true }, "/w/c.txt", 0, 500, 1_048_576, noDownloads)).toBeDefined();
  });

  it("is undefined when BaseSandbox.read would run another command (the caller then runs it)", async () => {
    const original = BaseSandbox.prototype.read;
    BaseSandbox.prototype.read = async function (this: { execute(command: string): Promise<unknown> }, path: string) {
      await this.execute(`cat -n ${path}`);
      return { content: "" };
    };
    try {
      expect(await readResultOfFile({ content: encoder.encode("x\n"), bytesAsText: true }, "/w/a.txt", 0, 500, 1_048_576, noDownloads)).toBeUndefined();
    } finally {
      BaseSandbox.prototype.read = original;
    }
  });
});
