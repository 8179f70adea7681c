import { beforeAll, describe, expect, it } from "vitest";
import { MAX_COMMAND_BYTES, MAX_ENV_ENTRY_BYTES } from "../contract/defaults.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { SandboxErrorCode } from "../errors/error-codes.js";
import { MAX_SANDBOX_TIMEOUT_MS } from "../options/sandbox-options.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { expectSandboxError } from "./expect-sandbox-error.js";
import { SuiteContext } from "./suite-context.js";

/** Files written before the bad inputs, checked byte for byte after each one. */
const PRECIOUS_DIRECTORY = "/tmp/conformance-bad-inputs";
const PRECIOUS: ReadonlyArray<[string, Uint8Array]> = [
  [`${PRECIOUS_DIRECTORY}/notes.txt`, new TextEncoder().encode("written before the bad inputs\n")],
  [`${PRECIOUS_DIRECTORY}/all-bytes.bin`, Uint8Array.from({ length: 256 }, (_, index) => index)],
  [`${PRECIOUS_DIRECTORY}/nested/deep/file.json`, new TextEncoder().encode('{"kept":true}')],
];

/** A file every per-file case writes or reads next to the bad entry: partial success must hold. */
const GOOD_PATH = `${PRECIOUS_DIRECTORY}/good.txt`;
const GOOD = new TextEncoder().encode("good\n");

type AnySandbox = SandboxBackend & Record<string, unknown>;

/** One bad input: what is called, and the exact outcome the contract names. */
interface BadInput {
  label: string;
  /** A call that must reject with `code` before anything runs. */
  throws?: { code: SandboxErrorCode; call: (sandbox: AnySandbox, marker: string) => Promise<unknown> };
  /** An upload batch `[bad, good]`: the bad entry's per-file error, the good one written. */
  upload?: { entry: unknown; error: string };
  /** A download batch `[bad, good]`: the bad path's per-file error, the good one read. */
  download?: { path: unknown; error: string };
}

const command = (marker: string) => `touch ${marker}; echo ran`;
const run =
  (options: unknown, text?: (marker: string) => unknown) =>
  (sandbox: AnySandbox, marker: string): Promise<unknown> =>
    (sandbox.execute as (command: unknown, options?: unknown) => Promise<unknown>)(text ? text(marker) : command(marker), options);

/** At least 40 bad inputs, each with the one code (or per-file error) it must get. */
const BAD_INPUTS: BadInput[] = [
  // ---- execute: the command
  { label: "execute: an empty command", throws: { code: "INVALID_ARGUMENT", call: run(undefined, () => "") } },
  { label: "execute: a command with a NUL byte", throws: { code: "INVALID_ARGUMENT", call: run(undefined, (marker) => `touch ${marker}\0; echo ran`) } },
  { label: "execute: a number as the command", throws: { code: "INVALID_ARGUMENT", call: run(undefined, () => 42) } },
  { label: "execute: null as the command", throws: { code: "INVALID_ARGUMENT", call: run(undefined, () => null) } },
  { label: "execute: undefined as the command", throws: { code: "INVALID_ARGUMENT", call: run(undefined, () => undefined) } },
  { label: "execute: an array as the command", throws: { code: "INVALID_ARGUMENT", call: run(undefined, (marker) => ["touch", marker]) } },
  {
    label: "execute: a command one byte over MAX_COMMAND_BYTES",
    throws: { code: "INVALID_ARGUMENT", call: run(undefined, (marker) => `touch ${marker}; : '${"y".repeat(MAX_COMMAND_BYTES)}'`) },
  },
  // ---- execute: timeoutMs
  { label: "execute: timeoutMs -1", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: -1 }) } },
  { label: "execute: timeoutMs 0", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: 0 }) } },
  { label: "execute: timeoutMs 1.5 (not whole)", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: 1.5 }) } },
  { label: "execute: timeoutMs NaN", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: Number.NaN }) } },
  { label: "execute: timeoutMs Infinity", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: Number.POSITIVE_INFINITY }) } },
  { label: "execute: timeoutMs past 24 hours", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: MAX_SANDBOX_TIMEOUT_MS + 1_000 }) } },
  { label: "execute: timeoutMs 2^53 (huge)", throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: 2 ** 53 }) } },
  { label: 'execute: timeoutMs as a string ("1000")', throws: { code: "INVALID_ARGUMENT", call: run({ timeoutMs: "1000" }) } },
  // ---- execute: maxOutputBytes
  { label: "execute: maxOutputBytes -5", throws: { code: "INVALID_ARGUMENT", call: run({ maxOutputBytes: -5 }) } },
  { label: "execute: maxOutputBytes 0", throws: { code: "INVALID_ARGUMENT", call: run({ maxOutputBytes: 0 }) } },
  { label: "execute: maxOutputBytes 0.5", throws: { code: "INVALID_ARGUMENT", call: run({ maxOutputBytes: 0.5 }) } },
  // ---- execute: env
  { label: "execute: env name with a space", throws: { code: "INVALID_ARGUMENT", call: run({ env: { "BAD NAME": "x" } }) } },
  { label: "execute: env name starting with a digit", throws: { code: "INVALID_ARGUMENT", call: run({ env: { "1ABC": "x" } }) } },
  { label: "execute: env name with '='", throws: { code: "INVALID_ARGUMENT", call: run({ env: { "A=B": "x" } }) } },
  { label: "execute: env name empty", throws: { code: "INVALID_ARGUMENT", call: run({ env: { "": "x" } }) } },
  { label: "execute: env value a number", throws: { code: "INVALID_ARGUMENT", call: run({ env: { VALUE: 5 } }) } },
  { label: "execute: env value with a NUL byte", throws: { code: "INVALID_ARGUMENT", call: run({ env: { VALUE: "a\0b" } }) } },
  {
    label: "execute: an env variable over MAX_ENV_ENTRY_BYTES (Linux would refuse to start the shell)",
    throws: { code: "INVALID_ARGUMENT", call: run({ env: { BIG: "x".repeat(MAX_ENV_ENTRY_BYTES) } }) },
  },
  {
    label: "execute: env over MAX_ENV_TOTAL_BYTES in all",
    throws: {
      code: "INVALID_ARGUMENT",
      call: run({ env: Object.fromEntries(Array.from({ length: 12 }, (_, index) => [`PART_${index}`, "x".repeat(100_000)])) }),
    },
  },
  { label: "execute: env as a string", throws: { code: "INVALID_ARGUMENT", call: run({ env: "A=1" }) } },
  { label: "execute: env as an array", throws: { code: "INVALID_ARGUMENT", call: run({ env: [["A", "1"]] }) } },
  // ---- execute: cwd and callbacks
  { label: "execute: a relative cwd", throws: { code: "INVALID_ARGUMENT", call: run({ cwd: "relative/dir" }) } },
  { label: "execute: an empty cwd", throws: { code: "INVALID_ARGUMENT", call: run({ cwd: "" }) } },
  { label: "execute: a cwd with a NUL byte", throws: { code: "INVALID_ARGUMENT", call: run({ cwd: "/tmp/\0x" }) } },
  { label: "execute: a cwd with '..'", throws: { code: "INVALID_ARGUMENT", call: run({ cwd: "/tmp/../etc" }) } },
  { label: "execute: onStdout not a function", throws: { code: "INVALID_ARGUMENT", call: run({ onStdout: "print" }) } },
  { label: "execute: onStderr not a function", throws: { code: "INVALID_ARGUMENT", call: run({ onStderr: 1 }) } },
  { label: "execute: signal not an AbortSignal", throws: { code: "INVALID_ARGUMENT", call: run({ signal: "abort" }) } },
  { label: "execute: null as the options", throws: { code: "INVALID_ARGUMENT", call: run(null) } },
  { label: "execute: a string as the options", throws: { code: "INVALID_ARGUMENT", call: run("timeoutMs=5") } },
  // ---- uploadFiles: per-file errors, the good file still written
  { label: "uploadFiles: a relative path", upload: { entry: ["relative/file.txt", GOOD], error: "invalid_path" } },
  { label: "uploadFiles: an empty path", upload: { entry: ["", GOOD], error: "invalid_path" } },
  { label: "uploadFiles: a path with a NUL byte", upload: { entry: [`${PRECIOUS_DIRECTORY}/nul\0.txt`, GOOD], error: "invalid_path" } },
  { label: "uploadFiles: a path with '..'", upload: { entry: [`${PRECIOUS_DIRECTORY}/../escape.txt`, GOOD], error: "invalid_path" } },
  { label: "uploadFiles: a path ending in '/'", upload: { entry: [`${PRECIOUS_DIRECTORY}/dir/`, GOOD], error: "invalid_path" } },
  { label: "uploadFiles: a number as the path", upload: { entry: [42, GOOD], error: "invalid_path" } },
  { label: "uploadFiles: a string as the content", upload: { entry: [`${PRECIOUS_DIRECTORY}/text.txt`, "not bytes"], error: "invalid_path" } },
  { label: "uploadFiles: null as the content", upload: { entry: [`${PRECIOUS_DIRECTORY}/null.txt`, null], error: "invalid_path" } },
  { label: "uploadFiles: an entry that is not a pair", upload: { entry: "just-a-string", error: "invalid_path" } },
  {
    label: "uploadFiles: over an existing directory",
    upload: { entry: [`${PRECIOUS_DIRECTORY}/nested`, GOOD], error: "is_directory" },
  },
  {
    label: "uploadFiles: not an array",
    throws: { code: "INVALID_ARGUMENT", call: (sandbox) => (sandbox.uploadFiles as (files: unknown) => Promise<unknown>)(`${PRECIOUS_DIRECTORY}/x`) },
  },
  // ---- downloadFiles: per-file errors, the good file still read
  { label: "downloadFiles: a relative path", download: { path: "relative/file.txt", error: "invalid_path" } },
  { label: "downloadFiles: an empty path", download: { path: "", error: "invalid_path" } },
  { label: "downloadFiles: a path with a NUL byte", download: { path: `${PRECIOUS_DIRECTORY}/notes.txt\0`, error: "invalid_path" } },
  { label: "downloadFiles: a path with '..'", download: { path: `${PRECIOUS_DIRECTORY}/../conformance-bad-inputs/notes.txt`, error: "invalid_path" } },
  { label: "downloadFiles: null as the path", download: { path: null, error: "invalid_path" } },
  { label: "downloadFiles: a directory", download: { path: `${PRECIOUS_DIRECTORY}/nested`, error: "is_directory" } },
  { label: "downloadFiles: a regular file with a trailing '/'", download: { path: `${PRECIOUS_DIRECTORY}/notes.txt/`, error: "file_not_found" } },
  { label: "downloadFiles: a missing file", download: { path: `${PRECIOUS_DIRECTORY}/missing.txt`, error: "file_not_found" } },
  {
    label: "downloadFiles: not an array",
    throws: { code: "INVALID_ARGUMENT", call: (sandbox) => (sandbox.downloadFiles as (paths: unknown) => Promise<unknown>)(`${PRECIOUS_DIRECTORY}/notes.txt`) },
  },
];

/**
 * Bad inputs: every malformed argument a caller (or a model writing tool
 * calls) can pass gets its exact code, or its exact per-file error next to a
 * file that still succeeds, and nothing written before is lost. Runs on one
 * shared sandbox; every case is bounded by its own timeout.
 */
export function badInputsConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "bad inputs"), () => {
    const context = new SuiteContext(target, "bad-inputs");
    const budget = () => context.budget(1, 30_000);
    const sandbox = async () => (await context.shared()) as unknown as AnySandbox;

    beforeAll(async () => {
      const results = await (await sandbox()).uploadFiles([...PRECIOUS]);
      expect(results.map((result) => result.error)).toEqual(PRECIOUS.map(() => null));
    }, budget());

    async function expectPreciousIntact(label: string): Promise<void> {
      const read = await (await sandbox()).downloadFiles(PRECIOUS.map(([path]) => path));
      read.forEach((result, index) => {
        expect(result.error, `${label}: ${result.path} was lost`).toBeNull();
        expect(Buffer.from(result.content ?? new Uint8Array()).equals(Buffer.from(PRECIOUS[index]![1])), `${label}: ${result.path} changed`).toBe(true);
      });
    }

    it(`has at least 40 cases (${BAD_INPUTS.length})`, () => {
      expect(BAD_INPUTS.length).toBeGreaterThanOrEqual(40);
    });

    BAD_INPUTS.forEach((input, index) => {
      it(input.label, { timeout: budget() }, async () => {
        const box = await sandbox();
        const marker = `/tmp/conformance-bad-input-ran-${index}`;
        if (input.throws) {
          const error = await expectSandboxError(() => input.throws!.call(box, marker), input.throws.code, context.provider, input.label);
          expect(error.retryable, "a bad input is the caller's mistake: not retryable").toBe(false);
          const ran = await box.execute(`test -e ${marker} && echo ran || echo not-run`);
          expect(ran.output, "the refused call must not have run anything").toBe("not-run\n");
        }
        if (input.upload) {
          await box.execute(`rm -f ${GOOD_PATH}`);
          const results = await (box.uploadFiles as (files: unknown) => Promise<Array<{ path: string; error: string | null }>>)([
            input.upload.entry,
            [GOOD_PATH, GOOD],
          ]);
          expect(results, "one result per entry, in input order").toHaveLength(2);
          expect(results[0]?.error, `${input.label}: the per-file error`).toBe(input.upload.error);
          expect(results[1], "the good file in the same batch must be written").toMatchObject({ path: GOOD_PATH, error: null });
          expect((await box.execute(`cat ${GOOD_PATH}`)).output).toBe("good\n");
        }
        if (input.download) {
          await box.uploadFiles([[GOOD_PATH, GOOD]]);
          const results = await (box.downloadFiles as (paths: unknown) => Promise<Array<{ path: string; content: Uint8Array | null; error: string | null }>>)([
            input.download.path,
            GOOD_PATH,
          ]);
          expect(results, "one result per path, in input order").toHaveLength(2);
          expect(results[0]?.error, `${input.label}: the per-file error`).toBe(input.download.error);
          expect(results[0]?.content ?? null, "no content with an error").toBeNull();
          expect(results[1]?.error, "the good file in the same batch must be read").toBeNull();
          expect(new TextDecoder().decode(results[1]?.content ?? new Uint8Array())).toBe("good\n");
        }
        await expectPreciousIntact(input.label);
      });
    });

    it("the sandbox still works after every bad input", { timeout: budget() }, async () => {
      expect((await (await sandbox()).execute("echo still-fine")).output).toBe("still-fine\n");
      await expectPreciousIntact("after all bad inputs");
    });
  });
}
