import { isSandboxBackend } from "deepagents";
import { describe, expect, it } from "vitest";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { uploadOne } from "./file-transfer.js";
import { shellQuote } from "./sandbox-probes.js";
import { SuiteContext } from "./suite-context.js";

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];

/** Reads a file with `cat` (what the agent's next command would see). */
async function cat(sandbox: SandboxBackend, path: string): Promise<string> {
  const result = await sandbox.execute(`cat ${shellQuote(path)}`);
  if (result.exitCode !== 0) throw new Error(`cat ${path} failed with exit ${result.exitCode}: ${result.output}`);
  return result.output;
}

/** Whether `text` contains `word` as a whole word. */
function hasWord(text: string, word: string): boolean {
  return new RegExp(`\\b${word}\\b`).test(text);
}

/**
 * deepagents' file operations (`ls`, `read`, `readRaw`, `write`, `edit`,
 * `grep`, `glob`) through the adapter, on the adapter's own
 * execute / uploadFiles / downloadFiles: what an agent's file tools call.
 */
export function fileOperationsConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "file operations (deepagents)"), () => {
    const context = new SuiteContext(target, "fileops");
    const root = context.scratch;
    const { sharedSandbox: shared, oneSandboxBudget: budget } = context;

    it("is recognised by deepagents as a sandbox backend (execute and a non-empty id)", { timeout: budget() }, async () => {
      const sandbox = await shared();
      expect(isSandboxBackend(sandbox), "deepagents' isSandboxBackend() rejects the adapter: createDeepAgent would not offer the execute tool").toBe(true);
    });

    describe("write", () => {
      it("creates a file, with its parent directories, that commands can read", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${root}/write/new/dir/created.txt`;
        const result = await sandbox.write(path, "written by deepagents\n");
        expect(result.error, `write() failed: ${result.error}`).toBeUndefined();
        expect(result.path).toBe(path);
        expect(await cat(sandbox, path)).toBe("written by deepagents\n");
      });

      it("overwrites an existing file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${root}/write/overwrite.txt`;
        await sandbox.write(path, "first version, longer");
        const result = await sandbox.write(path, "second");
        expect(result.error).toBeUndefined();
        expect(await cat(sandbox, path)).toBe("second");
      });
    });

    describe("read", () => {
      const path = () => `${root}/read/ten-lines.txt`;
      const prepare = async () => {
        const sandbox = await shared();
        await uploadOne(sandbox, path(), WORDS.map((word) => `${word}\n`).join(""));
        return sandbox;
      };

      it("returns every line of a file with its content", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.read(path());
        expect(result.error, `read() failed: ${result.error}`).toBeUndefined();
        const content = String(result.content);
        for (const word of WORDS) expect(hasWord(content, word), `read() lost the line "${word}"`).toBe(true);
        expect(result.totalLines, "read() must report the file's total line count").toBe(10);
      });

      it("honours offset and limit (lines 3 and 4 of 10)", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.read(path(), 2, 2);
        expect(result.error).toBeUndefined();
        const content = String(result.content);
        expect(
          hasWord(content, "charlie") && hasWord(content, "delta"),
          `read(offset 2, limit 2) must return lines 3 and 4, got ${JSON.stringify(content)}`,
        ).toBe(true);
        for (const word of ["bravo", "echo", "alpha", "juliet"])
          expect(hasWord(content, word), `read(offset 2, limit 2) returned "${word}", outside the slice`).toBe(false);
        expect({ startLine: result.startLine, endLine: result.endLine, nextOffset: result.nextOffset }).toEqual({ startLine: 3, endLine: 4, nextOffset: 4 });
      });

      it("returns an error, not content, for a missing file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const result = await sandbox.read(`${root}/read/missing.txt`);
        expect(result.error, "read() of a missing file must return an error").toBeDefined();
        expect(result.content).toBeUndefined();
      });

      it("reads an empty file without an error", { timeout: budget() }, async () => {
        const sandbox = await shared();
        await uploadOne(sandbox, `${root}/read/empty.txt`, "");
        const result = await sandbox.read(`${root}/read/empty.txt`);
        expect(result.error, `read() of an empty file failed: ${result.error}`).toBeUndefined();
      });

      it("readRaw() returns the exact content", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.readRaw(path());
        expect(result.error).toBeUndefined();
        expect(result.data?.content).toBe(WORDS.map((word) => `${word}\n`).join(""));
      });
    });

    describe("ls", () => {
      it("lists files and directories (directories marked and with a trailing slash)", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const directory = `${root}/ls`;
        await uploadOne(sandbox, `${directory}/a.txt`, "12345");
        await uploadOne(sandbox, `${directory}/sub/b.txt`, "b");
        const result = await sandbox.ls(directory);
        expect(result.error).toBeUndefined();
        const entries = [...(result.files ?? [])].sort((left, right) => left.path.localeCompare(right.path));
        expect(entries.map((entry) => entry.path)).toEqual([`${directory}/a.txt`, `${directory}/sub/`]);
        expect(entries.map((entry) => entry.is_dir)).toEqual([false, true]);
        expect(entries[0]?.size, "ls() reported a wrong file size").toBe(5);
      });

      it("lists nothing in an empty directory", { timeout: budget() }, async () => {
        const sandbox = await shared();
        await sandbox.execute(`mkdir -p ${shellQuote(`${root}/ls-empty`)}`);
        const result = await sandbox.ls(`${root}/ls-empty`);
        expect(result.error).toBeUndefined();
        expect(result.files ?? []).toEqual([]);
      });
    });

    describe("edit", () => {
      it("replaces a single occurrence", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${root}/edit/single.txt`;
        await uploadOne(sandbox, path, "hello world\nbye world\n");
        const result = await sandbox.edit(path, "hello world", "hello there");
        expect(result.error, `edit() failed: ${result.error}`).toBeUndefined();
        expect(result.occurrences).toBe(1);
        expect(await cat(sandbox, path)).toBe("hello there\nbye world\n");
      });

      it("replaces every occurrence with replaceAll", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${root}/edit/all.txt`;
        await uploadOne(sandbox, path, "cat dog cat bird cat");
        const result = await sandbox.edit(path, "cat", "fox", true);
        expect(result.error).toBeUndefined();
        expect(result.occurrences).toBe(3);
        expect(await cat(sandbox, path)).toBe("fox dog fox bird fox");
      });

      for (const refused of [
        { when: "not found", file: "not-found.txt", content: "unchanged content", search: "absent text", problem: "a missing string" },
        { when: "ambiguous", file: "ambiguous.txt", content: "same same", search: "same", problem: "an ambiguous string without replaceAll" },
      ]) {
        it(`returns an error and leaves the file unchanged when the string is ${refused.when}`, { timeout: budget() }, async () => {
          const sandbox = await shared();
          const path = `${root}/edit/${refused.file}`;
          await uploadOne(sandbox, path, refused.content);
          const result = await sandbox.edit(path, refused.search, "different");
          expect(result.error, `edit() of ${refused.problem} must return an error`).toBeDefined();
          expect(await cat(sandbox, path)).toBe(refused.content);
        });
      }

      it("returns an error for a missing file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const result = await sandbox.edit(`${root}/edit/missing.txt`, "a", "b");
        expect(result.error).toBeDefined();
      });
    });

    describe("grep and glob", () => {
      const tree = () => `${root}/search`;
      let prepared: Promise<SandboxBackend> | undefined;
      const prepare = () =>
        (prepared ??= (async () => {
          const sandbox = await shared();
          const base = tree();
          await uploadOne(sandbox, `${base}/main.py`, "import os\nvalue = a.b*c(1)\nprint(value)\n");
          await uploadOne(sandbox, `${base}/notes.txt`, "a.b*c( appears here too\nnothing else\n");
          await uploadOne(sandbox, `${base}/src/app.ts`, "export const a = 1;\n");
          await uploadOne(sandbox, `${base}/src/deep/util.ts`, "export const abc = 2;\n");
          return sandbox;
        })());

      it("grep matches a literal pattern (regex characters are not special)", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.grep("a.b*c(", tree());
        expect(result.error).toBeUndefined();
        const matches = [...(result.matches ?? [])].sort((left, right) => left.path.localeCompare(right.path));
        expect(matches).toEqual([
          { path: `${tree()}/main.py`, line: 2, text: "value = a.b*c(1)" },
          { path: `${tree()}/notes.txt`, line: 1, text: "a.b*c( appears here too" },
        ]);
      });

      it("grep filters files with a glob", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.grep("a.b*c(", tree(), "*.py");
        expect(result.error).toBeUndefined();
        expect((result.matches ?? []).map((match) => match.path)).toEqual([`${tree()}/main.py`]);
      });

      it("grep returns no matches, and no error, when nothing matches", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.grep("no-such-text-anywhere", tree());
        expect(result.error).toBeUndefined();
        expect(result.matches ?? []).toEqual([]);
      });

      it("grep from the root (deepagents' default path) answers within its budget, without /proc, /sys, /dev or /run", {
        timeout: budget(60_000),
      }, async () => {
        const sandbox = await prepare();
        // Unique to this run, held by one file beside the tree (the tree is the other cases').
        const marker = `root-needle-${Date.now().toString(36)}`;
        const file = `${tree()}-root-search/root-search.txt`;
        await uploadOne(sandbox, file, `first\n${marker} here\n`);
        const started = Date.now();
        const result = await sandbox.grep(marker, "/");
        expect(result.error).toBeUndefined();
        expect(Date.now() - started, "a grep of / must not read /proc without end").toBeLessThan(60_000);
        const paths = (result.matches ?? []).map((match) => match.path);
        expect(result.matches).toContainEqual({ path: file, line: 2, text: `${marker} here` });
        expect(paths.filter((path) => /^\/(proc|sys|dev|run)\//.test(path))).toEqual([]);
        const globbed = await sandbox.grep(marker, "/", "root-search.*");
        expect(globbed.error).toBeUndefined();
        expect(globbed.matches).toEqual([{ path: file, line: 2, text: `${marker} here` }]);
      });

      it("glob matches names in one directory", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.glob("*.txt", tree());
        expect(result.error).toBeUndefined();
        expect((result.files ?? []).map((file) => file.path)).toEqual(["notes.txt"]);
      });

      it("glob matches recursively with **", { timeout: budget() }, async () => {
        const sandbox = await prepare();
        const result = await sandbox.glob("**/*.ts", tree());
        expect(result.error).toBeUndefined();
        expect((result.files ?? []).map((file) => file.path).sort()).toEqual(["src/app.ts", "src/deep/util.ts"]);
      });
    });
  });
}
