import { randomFillSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { allByteValues, downloadFiles, downloadOne, parseSha256sum, sameBytes, sha256Hex, uploadFiles, uploadOne } from "./file-transfer.js";
import { shellQuote } from "./sandbox-probes.js";
import { randomSuffix, SuiteContext } from "./suite-context.js";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs a command that must succeed and returns its output. */
async function run(sandbox: SandboxBackend, command: string, timeoutMs = 60_000): Promise<string> {
  const result = await sandbox.execute(command, { timeoutMs });
  if (result.exitCode !== 0) throw new Error(`helper command failed with exit ${result.exitCode}: ${command}\n${result.output.slice(0, 1000)}`);
  return result.output;
}

/**
 * uploadFiles / downloadFiles: binary safety, sizes from zero to 100 MiB
 * with checksums on both sides, parents, overwrite, odd names, partial
 * success in input order, and each per-file error code.
 */
export function filesConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "files"), () => {
    const context = new SuiteContext(target, "files");
    const directory = context.scratch;
    const { sharedSandbox: shared, oneSandboxBudget: budget } = context;
    const transferBudget = budget(context.timeouts.transferMs);

    describe("content", () => {
      it("round-trips all 256 byte values, byte for byte, as seen by commands too", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const bytes = allByteValues();
        const path = `${directory}/all-bytes.bin`;
        await uploadOne(sandbox, path, bytes);
        const size = await run(sandbox, `wc -c < ${shellQuote(path)}`);
        expect(size.trim(), "the sandbox sees a different size than was uploaded").toBe("256");
        const inside = parseSha256sum(await run(sandbox, `sha256sum ${shellQuote(path)}`));
        expect(inside, "the sandbox's sha256sum differs from the bytes uploaded (upload is not binary-safe)").toBe(sha256Hex(bytes));
        const downloaded = await downloadOne(sandbox, path);
        expect(downloaded instanceof Uint8Array, "downloaded content must be a Uint8Array").toBe(true);
        expect(sameBytes(downloaded, bytes), `download of the 256 byte values came back different (${downloaded.byteLength} bytes)`).toBe(true);
      });

      it("round-trips a zero-length file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${directory}/empty.bin`;
        await uploadOne(sandbox, path, new Uint8Array(0));
        expect((await run(sandbox, `test -f ${shellQuote(path)} && wc -c < ${shellQuote(path)}`)).trim(), "an empty upload did not create an empty file").toBe(
          "0",
        );
        const [result] = await downloadFiles(sandbox, [path]);
        expect(result?.error ?? null, "downloading an empty file must succeed").toBeNull();
        expect(result?.content, "an empty file must download as an empty Uint8Array, not null").toBeInstanceOf(Uint8Array);
        expect(result?.content?.byteLength).toBe(0);
      });

      it("uploads 100 MiB of random bytes intact (sha256 inside the sandbox equals the host's)", { timeout: transferBudget }, async () => {
        const sandbox = await shared();
        const bytes = randomFillSync(Buffer.allocUnsafe(100 * MIB));
        const expected = sha256Hex(bytes);
        const path = `${directory}/upload-100mib.bin`;
        try {
          await uploadOne(sandbox, path, bytes);
          const size = (await run(sandbox, `wc -c < ${shellQuote(path)}`, context.timeouts.transferMs)).trim();
          expect(size, "the uploaded 100 MiB file has the wrong size in the sandbox").toBe(String(100 * MIB));
          const inside = parseSha256sum(await run(sandbox, `sha256sum ${shellQuote(path)}`, context.timeouts.transferMs));
          expect(inside, "the 100 MiB upload arrived corrupted: sha256 inside the sandbox differs from the host's").toBe(expected);
        } finally {
          await sandbox.execute(`rm -f ${shellQuote(path)}`).catch(() => undefined);
        }
      });

      it("downloads 100 MiB written by a command intact (host sha256 equals the sandbox's)", { timeout: transferBudget }, async () => {
        const sandbox = await shared();
        const path = `${directory}/download-100mib.bin`;
        try {
          await run(sandbox, `dd if=/dev/urandom of=${shellQuote(path)} bs=1048576 count=100 2>/dev/null`, context.timeouts.transferMs);
          const inside = parseSha256sum(await run(sandbox, `sha256sum ${shellQuote(path)}`, context.timeouts.transferMs));
          expect(inside, "sha256sum printed no hash").not.toBeNull();
          const downloaded = await downloadOne(sandbox, path);
          expect(downloaded.byteLength, "the 100 MiB download has the wrong size").toBe(100 * MIB);
          expect(sha256Hex(downloaded), "the 100 MiB download arrived corrupted: host sha256 differs from the sandbox's").toBe(inside);
        } finally {
          await sandbox.execute(`rm -f ${shellQuote(path)}`).catch(() => undefined);
        }
      });

      it("overwrites an existing file completely (no tail of the old content survives)", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${directory}/overwrite.txt`;
        await uploadOne(sandbox, path, "a long first version of the file");
        await uploadOne(sandbox, path, "short");
        expect(decoder.decode(await downloadOne(sandbox, path))).toBe("short");
        expect(await run(sandbox, `cat ${shellQuote(path)}`)).toBe("short");
      });

      it("an overwrite keeps the file's owner and permission bits (as `echo x > file` does), alone, in a batch and through a symlink", {
        timeout: budget(),
      }, async () => {
        const sandbox = await shared();
        const base = `${directory}/kept-owner-${randomSuffix()}`;
        const owned = `${base}/owned.txt`;
        const rootOnly = `${base}/root-only.sh`;
        const target = `${base}/link-target.txt`;
        const link = `${base}/link.txt`;
        const q = shellQuote;
        await run(
          sandbox,
          `mkdir -p ${q(base)} && for f in ${q(owned)} ${q(rootOnly)} ${q(target)}; do echo old > "$f"; done && ` +
            `chown 1234:2345 ${q(owned)} ${q(target)} && chmod 0751 ${q(owned)} && chmod 0700 ${q(rootOnly)} && chmod 0604 ${q(target)} && ln -s ${q(target)} ${q(link)}`,
        );
        const stat = async () => (await run(sandbox, `stat -c '%u:%g %a' ${q(owned)} ${q(rootOnly)} ${q(target)}`)).trim().split("\n");
        const before = await stat();
        expect(before, "the setup could not chown/chmod").toEqual(["1234:2345 751", "0:0 700", "1234:2345 604"]);
        await uploadOne(sandbox, owned, "new alone\n");
        expect(await stat(), "an overwrite of one file changed its owner or mode").toEqual(before);
        const results = await uploadFiles(sandbox, [
          [owned, encoder.encode("new in a batch\n")],
          [rootOnly, encoder.encode("new root-only\n")],
          [`${base}/brand-new.txt`, encoder.encode("brand new\n")],
          [link, encoder.encode("new through the link\n")],
        ]);
        expect(
          results.map((result) => result.error),
          "every file of the batch must be written",
        ).toEqual([null, null, null, null]);
        expect(await stat(), "an overwrite in a batch (or through a symlink) changed the file's owner or mode").toEqual(before);
        expect(await run(sandbox, `cat ${q(owned)} ${q(rootOnly)} ${q(target)}`), "the overwrites did not land").toBe(
          "new in a batch\nnew root-only\nnew through the link\n",
        );
        expect((await run(sandbox, `test -L ${q(link)} && echo link`)).trim(), "an upload through a symlink must leave the symlink").toBe("link");
      });

      it("an overwrite replaces the file: a hard link to the old file keeps the old content", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const base = `${directory}/hard-link-${randomSuffix()}`;
        const path = `${base}/file.txt`;
        const other = `${base}/other-name.txt`;
        await run(sandbox, `mkdir -p ${shellQuote(base)} && echo old > ${shellQuote(path)} && ln ${shellQuote(path)} ${shellQuote(other)}`);
        await uploadOne(sandbox, path, "new\n");
        expect(await run(sandbox, `cat ${shellQuote(path)}`), "the path must have the new content").toBe("new\n");
        expect(
          await run(sandbox, `cat ${shellQuote(other)}`),
          "uploads replace the file at the path (written beside it and renamed over it), so another hard link keeps the old content",
        ).toBe("old\n");
      });

      it("makes uploads visible to commands and command output visible to downloads", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const uploaded = `${directory}/from-host.txt`;
        const written = `${directory}/from-command.txt`;
        await uploadOne(sandbox, uploaded, "from host\n");
        expect(await run(sandbox, `cat ${shellQuote(uploaded)}`)).toBe("from host\n");
        const appended = await sandbox.execute(`echo appended >> ${shellQuote(uploaded)}`);
        expect(appended.exitCode, "a command cannot modify an uploaded file (ownership or mode of uploads is wrong)").toBe(0);
        expect(decoder.decode(await downloadOne(sandbox, uploaded))).toBe("from host\nappended\n");
        await run(sandbox, `printf 'from command' > ${shellQuote(written)}`);
        expect(decoder.decode(await downloadOne(sandbox, written))).toBe("from command");
      });
    });

    describe("paths", () => {
      it("creates missing parent directories", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${directory}/new/parents/deep/down/file.txt`;
        await uploadOne(sandbox, path, "nested");
        expect(await run(sandbox, `cat ${shellQuote(path)}`)).toBe("nested");
      });

      it("handles spaces in directory and file names", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${directory}/dir with spaces/file with spaces.txt`;
        await uploadOne(sandbox, path, "spaced");
        expect(await run(sandbox, `cat ${shellQuote(path)}`)).toBe("spaced");
        expect(decoder.decode(await downloadOne(sandbox, path))).toBe("spaced");
      });

      it("handles unicode in directory and file names", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = `${directory}/ünïcødé-目录/файл-🎉.txt`;
        await uploadOne(sandbox, path, "unicode name");
        expect(await run(sandbox, `cat ${shellQuote(path)}`)).toBe("unicode name");
        expect(decoder.decode(await downloadOne(sandbox, path))).toBe("unicode name");
      });

      it("uploads and downloads a batch of 50 files, results in input order", { timeout: budget(60_000) }, async () => {
        const sandbox = await shared();
        const files = Array.from(
          { length: 50 },
          (_, index) => [`${directory}/batch/${String(index).padStart(2, "0")}-${randomSuffix()}.txt`, encoder.encode(`file ${index}`)] as [string, Uint8Array],
        );
        const uploaded = await uploadFiles(sandbox, files);
        uploaded.forEach((result, index) => {
          expect(result.path, `upload result ${index} is for another path`).toBe(files[index]![0]);
          expect(result.error, `upload of ${result.path} failed`).toBeNull();
        });
        const paths = [...files.map(([path]) => path)].reverse();
        const downloaded = await downloadFiles(sandbox, paths);
        downloaded.forEach((result, index) => {
          expect(result.path, `download result ${index} is for another path: results must follow input order`).toBe(paths[index]);
          expect(decoder.decode(result.content ?? new Uint8Array()), `download result ${index} has another file's content`).toBe(`file ${49 - index}`);
        });
      });
    });

    describe("partial success and per-file errors", () => {
      it("uploads report partial success in input order", { timeout: budget() }, async () => {
        const sandbox = await shared();
        await run(sandbox, `mkdir -p ${shellQuote(`${directory}/upload-is-dir`)}`);
        const files: Array<[string, Uint8Array]> = [
          [`${directory}/partial-ok-1.txt`, encoder.encode("one")],
          ["relative/partial.txt", encoder.encode("relative")],
          [`${directory}/upload-is-dir`, encoder.encode("over a directory")],
          [`${directory}/partial-ok-2.txt`, encoder.encode("two")],
        ];
        const results = await uploadFiles(sandbox, files);
        expect(
          results.map((result) => result.path),
          "upload results must carry the requested paths in input order",
        ).toEqual(files.map(([path]) => path));
        expect(
          results.map((result) => result.error),
          "per-file upload errors are wrong or out of order",
        ).toEqual([null, "invalid_path", "is_directory", null]);
        expect(await run(sandbox, `cat ${shellQuote(`${directory}/partial-ok-1.txt`)} ${shellQuote(`${directory}/partial-ok-2.txt`)}`)).toBe("onetwo");
      });

      it("downloads report partial success in input order", { timeout: budget() }, async () => {
        const sandbox = await shared();
        await uploadOne(sandbox, `${directory}/partial-a.txt`, "a");
        await uploadOne(sandbox, `${directory}/partial-b.txt`, "b");
        const paths = [`${directory}/partial-a.txt`, `${directory}/missing-${randomSuffix()}.txt`, "relative.txt", directory, `${directory}/partial-b.txt`];
        const results = await downloadFiles(sandbox, paths);
        expect(
          results.map((result) => result.path),
          "download results must carry the requested paths in input order",
        ).toEqual(paths);
        expect(
          results.map((result) => result.error),
          "per-file download errors are wrong or out of order",
        ).toEqual([null, "file_not_found", "invalid_path", "is_directory", null]);
        expect(
          results.map((result) => (result.content ? decoder.decode(result.content) : null)),
          "failed downloads must have content null",
        ).toEqual(["a", null, null, null, "b"]);
      });

      it("file_not_found: downloading a missing file, or one under a missing directory", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const results = await downloadFiles(sandbox, [`${directory}/no-such-file.txt`, `${directory}/no-such-dir-${randomSuffix()}/file.txt`]);
        expect(
          results.map((result) => result.error),
          "a missing file must map to exactly file_not_found (deepagents' memory loader depends on it)",
        ).toEqual(["file_not_found", "file_not_found"]);
      });

      it("is_directory: downloading a directory", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const [result] = await downloadFiles(sandbox, [directory]);
        expect(result?.error).toBe("is_directory");
        expect(result?.content ?? null).toBeNull();
      });

      it("is_directory: uploading over an existing directory, which stays a directory", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const existing = `${directory}/existing-dir`;
        await run(sandbox, `mkdir -p ${shellQuote(`${existing}/child`)}`);
        const [result] = await uploadFiles(sandbox, [[existing, encoder.encode("not a directory")]]);
        expect(result?.error).toBe("is_directory");
        expect((await run(sandbox, `test -d ${shellQuote(`${existing}/child`)} && echo intact`)).trim(), "the failed upload damaged the directory").toBe(
          "intact",
        );
      });

      it("permission_denied: uploading where even root may not write, and nothing is reported written", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const path = target.paths?.permissionDenied ?? `/sys/conformance-denied-${randomSuffix()}.txt`;
        const [result] = await uploadFiles(sandbox, [[path, encoder.encode("denied")]]);
        const visible = await sandbox.execute(`cat ${shellQuote(path)}`);
        expect(
          result?.error,
          `uploading ${path} reported ${String(result?.error)} ` +
            (visible.exitCode === 0
              ? "and the file IS readable inside"
              : "but the file is NOT readable inside (the upload wrote somewhere commands cannot see)") +
            "; expected permission_denied",
        ).toBe("permission_denied");
      });

      it("never reports success for an upload under a regular file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        await uploadOne(sandbox, `${directory}/plain-file`, "i am a file");
        const path = `${directory}/plain-file/child.txt`;
        const [result] = await uploadFiles(sandbox, [[path, encoder.encode("child")]]);
        expect(result?.error ?? null, `uploading ${path} (its parent is a regular file) reported success`).not.toBeNull();
        expect(await run(sandbox, `cat ${shellQuote(`${directory}/plain-file`)}`), "the failed upload damaged the regular file").toBe("i am a file");
      });

      it("an upload batch is written in its order: a file, then a directory the batch created as a file, is is_directory and the first file stays", {
        timeout: budget(),
      }, async () => {
        const sandbox = await shared();
        const parent = `${directory}/made-by-batch-${randomSuffix()}`;
        const results = await uploadFiles(sandbox, [
          [`${parent}/inner/kept.txt`, encoder.encode("kept")],
          [parent, encoder.encode("would replace the directory")],
        ]);
        expect(
          results.map((result) => result.error),
          "the second path is a directory once the first file is written: the batch must act as if written file by file",
        ).toEqual([null, "is_directory"]);
        expect(await run(sandbox, `cat ${shellQuote(`${parent}/inner/kept.txt`)}`), "a file reported written is gone").toBe("kept");
      });

      it("an upload batch is written in its order: a file, then a path under it, is not written and the file stays", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const file = `${directory}/file-then-child-${randomSuffix()}`;
        const results = await uploadFiles(sandbox, [
          [file, encoder.encode("plain")],
          [`${file}/child.txt`, encoder.encode("child")],
        ]);
        expect(results[0]?.error ?? null, "the first file of the batch must be written").toBeNull();
        expect(results[1]?.error ?? null, "a path under the file the batch just wrote cannot be written").not.toBeNull();
        expect(await run(sandbox, `cat ${shellQuote(file)}`), "the file the batch wrote first was replaced").toBe("plain");
      });

      it("file_not_found, per file: downloading a path under a regular file, in a batch with a good file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        await uploadOne(sandbox, `${directory}/plain-for-download`, "plain");
        const paths = [`${directory}/plain-for-download/child`, `${directory}/plain-for-download`];
        const results = await downloadFiles(sandbox, paths);
        expect(
          results.map((result) => result.error),
          "a path under a regular file cannot exist (file_not_found), and must not fail the batch",
        ).toEqual(["file_not_found", null]);
        expect(decoder.decode(results[1]?.content ?? new Uint8Array())).toBe("plain");
      });

      it("a FIFO in a download batch gets its own error (no hang, no whole-call failure)", { timeout: budget(60_000) }, async () => {
        const sandbox = await shared();
        const fifo = `${directory}/a-fifo`;
        await run(sandbox, `rm -f ${shellQuote(fifo)} && mkfifo ${shellQuote(fifo)}`);
        await uploadOne(sandbox, `${directory}/next-to-fifo.txt`, "next");
        const results = await downloadFiles(sandbox, [`${directory}/next-to-fifo.txt`, fifo]);
        expect(results[0]?.error ?? null).toBeNull();
        expect(decoder.decode(results[0]?.content ?? new Uint8Array())).toBe("next");
        expect(results[1]?.error, "a FIFO has no content to download: it must get a per-file error").toBe("invalid_path");
      });

      it("a FIFO in an upload batch gets its own error (no hang: nothing reads it), the others are written", { timeout: budget(60_000) }, async () => {
        const sandbox = await shared();
        const fifo = `${directory}/upload-fifo`;
        await run(sandbox, `rm -f ${shellQuote(fifo)} && mkfifo ${shellQuote(fifo)}`);
        const upload = uploadFiles(sandbox, [
          [fifo, encoder.encode("into the fifo")],
          [`${directory}/next-to-upload-fifo.txt`, encoder.encode("next")],
        ]);
        const settled = await Promise.race([upload.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 15_000))]);
        if (!settled) {
          // Give the stuck writer a reader so that the provider's call can end, then fail.
          await sandbox.execute(`timeout 5 cat ${shellQuote(fifo)} > /dev/null`, { timeoutMs: 10_000 }).catch(() => undefined);
          await upload.catch(() => undefined);
        }
        expect(settled, "an upload onto a FIFO waited for a reader (it must not open the FIFO for writing)").toBe(true);
        const results = await upload;
        expect(results[0]?.error, "a FIFO is not a file to replace: it must get a per-file error").toBe("invalid_path");
        expect(results[1]?.error ?? null).toBeNull();
        expect(await run(sandbox, `test -p ${shellQuote(fifo)} && echo still-a-fifo`)).toBe("still-a-fifo\n");
      });

      it("an upload batch with a file the sandbox will not replace writes the others and reports that one per file", { timeout: budget() }, async () => {
        const sandbox = await shared();
        // /etc/hostname is bind-mounted by container engines; its own content goes back, so nothing changes if a provider allows it.
        const [current] = await downloadFiles(sandbox, ["/etc/hostname"]);
        const hostname = current?.content ?? encoder.encode("conformance\n");
        const files: Array<[string, Uint8Array]> = [
          [`${directory}/busy-good-1.txt`, encoder.encode("g1")],
          ["/etc/hostname", hostname],
          [`${directory}/busy-good-2.txt`, encoder.encode("g2")],
        ];
        const results = await uploadFiles(sandbox, files);
        expect(results.map((result) => result.path)).toEqual(files.map(([path]) => path));
        expect([results[0]?.error, results[2]?.error], "the good files of the batch must be written").toEqual([null, null]);
        expect(await run(sandbox, `cat ${shellQuote(`${directory}/busy-good-1.txt`)} ${shellQuote(`${directory}/busy-good-2.txt`)}`)).toBe("g1g2");
        expect([null, "permission_denied", "invalid_path"], `/etc/hostname got ${String(results[1]?.error)}`).toContain(results[1]?.error ?? null);
      });

      it("an upload through a symlink to a missing directory gets a per-file result while the good files are written", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const link = `${directory}/link-to-missing`;
        await run(sandbox, `rm -f ${shellQuote(link)} && ln -s /nonexistent-conformance-dir-${randomSuffix()} ${shellQuote(link)}`);
        const files: Array<[string, Uint8Array]> = [
          [`${directory}/link-good-1.txt`, encoder.encode("l1")],
          [`${link}/file.txt`, encoder.encode("through the link")],
          [`${directory}/link-good-2.txt`, encoder.encode("l2")],
        ];
        const results = await uploadFiles(sandbox, files);
        expect([results[0]?.error, results[2]?.error], "the good files of the batch must be written").toEqual([null, null]);
        expect(await run(sandbox, `cat ${shellQuote(`${directory}/link-good-1.txt`)} ${shellQuote(`${directory}/link-good-2.txt`)}`)).toBe("l1l2");
        if (results[1]?.error === null) {
          expect(
            await run(sandbox, `cat ${shellQuote(`${link}/file.txt`)}`),
            "an upload through the link reported success, so commands must see the file",
          ).toBe("through the link");
        }
      });

      it("permission_denied: downloading /proc/kmsg (readable by nobody in a sandbox)", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const [result] = await downloadFiles(sandbox, ["/proc/kmsg"]);
        expect(result?.error, "/proc/kmsg must answer the same on every adapter").toBe("permission_denied");
      });

      it("invalid_path: relative paths, for upload and download", { timeout: budget() }, async () => {
        const sandbox = await shared();
        const uploaded = await uploadFiles(sandbox, [
          ["relative.txt", encoder.encode("x")],
          ["./dot/relative.txt", encoder.encode("x")],
        ]);
        expect(uploaded.map((result) => result.error)).toEqual(["invalid_path", "invalid_path"]);
        const downloaded = await downloadFiles(sandbox, ["relative.txt", "../escape.txt"]);
        expect(downloaded.map((result) => result.error)).toEqual(["invalid_path", "invalid_path"]);
      });
    });
  });
}
