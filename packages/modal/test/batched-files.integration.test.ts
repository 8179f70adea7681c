import type { Sandbox } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { BATCH_MAX_FILE_BYTES, writeBatch } from "../src/sandbox-file-batches.js";
import { FILE_TRANSFER_CONCURRENCY, independentPaths, readEach, readFiles, writeEach, writeFiles } from "../src/sandbox-files.js";
import { dockerAvailable, type EmulatorSession, startEmulatorSession } from "./support/emulator.js";

/*
 * Batched uploads (one exec for many files) against the per-file path (one
 * `writeBytes` exec per file), on the same sandbox through the real modal SDK
 * and @sandbox/modal-emulator: for every kind of path, the same per-file
 * result and the same files, modes, owners, links and parents afterwards.
 */

const withDocker = await dockerAvailable();
const appName = `batched-files-${process.pid}`;
const encoder = new TextEncoder();

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, index) => index);

/** The fixture under one tree root: one of each kind of path (busybox applets only). */
function fixture(root: string): string {
  return [
    `mkdir -p ${root}/dir ${root}/emptydir ${root}/sgid && chmod 2775 ${root}/sgid && chown 0:1000 ${root}/sgid && cd ${root}`,
    "printf old > existing.txt && chmod 640 existing.txt",
    "printf old > owned.txt && chown 1000:1000 owned.txt",
    "printf old > linked.txt && ln linked.txt hardlink.txt",
    "printf old > setuid && chmod 4755 setuid",
    "printf target > target.txt && ln -s target.txt link-to-file",
    "ln -s missing-target.txt link-dangling && ln -s dir link-to-dir",
    "printf f > file.txt && ln -s file.txt link-file-parent",
    "mkfifo fifo && ln -s /dev/shm link-shm && ln -s /proc link-proc",
  ].join(" && ");
}

/** The uploads of the matrix, relative to a tree root: [name, path, content]. */
const CASES: Array<[string, string, Uint8Array]> = [
  ["a new file", "new.txt", encoder.encode("new\n")],
  ["a new file under missing parents", "a/b/c/new.txt", encoder.encode("deep")],
  ["every byte value", "bytes.bin", ALL_BYTES],
  ["an empty file", "empty.txt", new Uint8Array(0)],
  ["no trailing newline", "no-newline.txt", encoder.encode("line1\nline2")],
  ["a name with spaces and quotes", `dir/it's "quoted" name.txt`, encoder.encode("quoted")],
  ["a name with a newline", "dir/new\nline.txt", encoder.encode("newline")],
  ["a unicode name", "dir/ünïcødé-文件.txt", encoder.encode("unicode")],
  ["a name with shell characters", "dir/$(touch pwned) `x` *;&|.txt", encoder.encode("shell")],
  ["an existing file (mode 0640 kept)", "existing.txt", encoder.encode("replaced")],
  ["an existing file of another owner", "owned.txt", encoder.encode("replaced")],
  ["an existing file with a second hard link", "linked.txt", encoder.encode("replaced")],
  ["an existing setuid file", "setuid", encoder.encode("replaced")],
  ["a symlink to a file", "link-to-file", encoder.encode("through link")],
  ["a dangling symlink", "link-dangling", encoder.encode("dangling")],
  ["a symlink to a directory", "link-to-dir", encoder.encode("x")],
  ["a directory", "emptydir", encoder.encode("x")],
  ["a parent that is a file", "file.txt/child.txt", encoder.encode("x")],
  ["a grandparent that is a file", "file.txt/sub/child.txt", encoder.encode("x")],
  ["a parent that is a symlink to a file", "link-file-parent/child.txt", encoder.encode("x")],
  ["a FIFO", "fifo", encoder.encode("x")],
  ["a new file in a setgid directory", "sgid/new.txt", encoder.encode("sgid")],
  ["a new file under a new directory in a setgid directory", "sgid/sub/new.txt", encoder.encode("sgid")],
  ["a new file through a symlink into /dev/shm", "link-shm/TREE-shm.txt", encoder.encode("shm")],
  ["a path through a symlink into /proc", "link-proc/TREE-proc.txt", encoder.encode("proc")],
  ["a read-only /proc/sys path", "/proc/sys/kernel/TREE-ro", encoder.encode("ro")],
  ["a directory in /sys", "/sys/kernel", encoder.encode("x")],
  ["/sys (read-only)", "/sys/TREE-up.txt", encoder.encode("x")],
  ["/proc/kmsg", "/proc/kmsg", encoder.encode("x")],
];

/** The cases the batch settles itself; it leaves the others, untouched, to the per-file path. */
const SETTLED_IN_BATCH = new Set([
  "a new file",
  "a new file under missing parents",
  "every byte value",
  "an empty file",
  "no trailing newline",
  "a name with spaces and quotes",
  "a name with a newline",
  "a unicode name",
  "a name with shell characters",
  "an existing file (mode 0640 kept)",
  "a directory",
  "a parent that is a file",
  "a grandparent that is a file",
]);

/** The absolute path of a case in the tree `tree` ("a" or "b"). */
function caseUnder(root: string, tree: string, relative: string): string {
  const named = relative.replace("TREE", `bt-${tree}`);
  return named.startsWith("/") ? named : `${root}/${named}`;
}

/** Every entry of the tree: type, mode, owner, size, link count; then every file's checksum. */
const LISTING =
  'cd "$1" && find . -print0 | sort -z | xargs -0 stat -c "%n|%F|%a|%u:%g|%s|%h" && find . -type f -print0 | sort -z | xargs -0 md5sum && cat /dev/shm/bt-$2-shm.txt 2>/dev/null';

/**
 * The images the matrix runs in: the default (alpine, busybox in the
 * emulator: its ash, its applets) and Debian (GNU tools, dash as sh).
 */
const IMAGES: Array<[string, string | undefined]> = [
  ["the default image (busybox)", undefined],
  ["Debian (GNU tools, dash)", "python:3.12-slim"],
];

describe.runIf(withDocker)("batched transfers through the emulator (needs a Docker engine)", () => {
  let session: EmulatorSession | undefined;
  beforeAll(async () => {
    session = await startEmulatorSession();
  }, 120_000);
  afterAll(async () => {
    await session?.stop();
  }, 120_000);

  describe.each(IMAGES)("in %s", (_label, imageName) => {
    let sandbox: ModalSandbox | undefined;
    let raw: Sandbox | undefined;

    beforeAll(async () => {
      sandbox = await ModalSandbox.create({ appName, ...(imageName ? { imageName } : {}) });
      raw = await session!.rawClient.sandboxes.fromId(sandbox.id);
    }, 180_000);
    afterAll(async () => {
      await sandbox?.close().catch(() => undefined);
    }, 120_000);

    const run = async (command: string, ...args: string[]): Promise<string> => {
      const process = await raw!.exec(["sh", "-c", command, "sh", ...args], { stdout: "pipe", stderr: "pipe" });
      const [output, error, exitCode] = await Promise.all([process.stdout.readText(), process.stderr.readText(), process.wait()]);
      if (exitCode !== 0) throw new Error(`${command} exited ${exitCode}: ${error}`);
      return output;
    };

    it("gives every kind of path the per-file result and leaves the same files behind", async () => {
      await run(`${fixture("/srv/bt/a")} && ${fixture("/srv/bt/b")}`);
      const batched = CASES.map(([, relative, content]): [string, Uint8Array] => [caseUnder("/srv/bt/a", "a", relative), content]);
      const single = CASES.map(([, relative, content]): [string, Uint8Array] => [caseUnder("/srv/bt/b", "b", relative), content]);

      // Independent paths (core sends nested ones in later calls), so the batch may take them all.
      expect(independentPaths(batched.map(([path]) => path))).toBe(true);
      const before = await session!.execStarts();
      const batchedResults = await writeFiles(raw!, batched);
      const batchExecs = (await session!.execStarts()) - before;
      const singleResults = await writeEach(raw!, single, FILE_TRANSFER_CONCURRENCY);

      const byCase = (results: Array<{ error: string | null }>) => Object.fromEntries(CASES.map(([name], index) => [name, results[index]!.error]));
      expect(byCase(batchedResults)).toEqual(byCase(singleResults));
      expect(batchedResults.map((result) => result.path)).toEqual(batched.map(([path]) => path));
      // The errors the matrix is meant to cover are all there.
      expect(new Set(singleResults.map((result) => result.error))).toEqual(new Set([null, "is_directory", "invalid_path", "permission_denied"]));

      const listing = async (tree: string) => (await run(LISTING, `/srv/bt/${tree}`, tree)).replaceAll(`bt-${tree}`, "bt-TREE");
      expect(await listing("a")).toEqual(await listing("b"));
      // The batch settled the plain cases in one exec; each case it left took one exec of its own.
      expect(batchExecs).toBe(1 + CASES.filter(([name]) => !SETTLED_IN_BATCH.has(name)).length);
    }, 180_000);

    it("writes many files with one exec", async () => {
      const files = Array.from({ length: 20 }, (_, index): [string, Uint8Array] => [`/srv/one-exec/f${index}.txt`, encoder.encode(`file ${index}`)]);
      const before = await session!.execStarts();
      const results = await writeFiles(raw!, files);
      expect(results).toEqual(files.map(([path]) => ({ path, error: null })));
      expect((await session!.execStarts()) - before).toBe(1);
      const read = await run('for f in /srv/one-exec/f*.txt; do printf "%s=%s\\n" "$f" "$(cat "$f")"; done');
      expect(read.split("\n").filter(Boolean).sort()).toEqual(files.map(([path], index) => `${path}=file ${index}`).sort());
    }, 60_000);

    it("leaves everything to the per-file path when the image cannot do the batch (no dd)", async () => {
      // A PATH with every tool the batch uses but dd: it answers unsupported, reads its stdin and writes nothing.
      await run('mkdir -p /srv/no-dd/bin && for a in sh id cat stat mkdir; do ln -sf "$(command -v $a)" /srv/no-dd/bin/$a; done');
      const files = Array.from({ length: 4 }, (_, index): [string, Uint8Array] => [`/srv/no-dd/f${index}.txt`, encoder.encode(`x${index}`)]);
      const outcomes = await writeBatch(raw!, files, { env: { PATH: "/srv/no-dd/bin" } });
      expect(outcomes).toEqual([undefined, undefined, undefined, undefined]);
      expect(await run("ls /srv/no-dd")).toBe("bin\n");
      // And without sh at all, the exec fails: nothing settled either.
      expect(await writeBatch(raw!, files, { env: { PATH: "/nonexistent" } })).toEqual([undefined, undefined, undefined, undefined]);
    }, 60_000);

    it("reads every kind of path as the per-file path does", async () => {
      const root = "/srv/br";
      await run(`${fixture(root)} && printf secret > unreadable.txt && chmod 000 unreadable.txt && head -c 9437184 /dev/zero > large.bin`);
      // The contents of the matrix, written by the per-file path (the reference).
      const contents = CASES.slice(0, 9).map(([, relative, content]): [string, Uint8Array] => [`${root}/${relative}`, content]);
      expect((await writeEach(raw!, contents, 1)).every((result) => result.error === null)).toBe(true);
      const reads: Array<[string, string]> = [
        ...contents.map(([path], index): [string, string] => [CASES[index]![0], path]),
        ["an existing file of another owner", `${root}/owned.txt`],
        ["an unreadable file (mode 000)", `${root}/unreadable.txt`],
        ["a file over the batch's per-file limit", `${root}/large.bin`],
        ["a missing file", `${root}/missing.txt`],
        ["a file under missing directories", `${root}/no/such/dir/file.txt`],
        ["a directory", `${root}/dir`],
        ["a parent that is a file", `${root}/file.txt/child.txt`],
        ["a grandparent that is a file", `${root}/file.txt/sub/child.txt`],
        ["a symlink to a file", `${root}/link-to-file`],
        ["a dangling symlink", `${root}/link-dangling`],
        ["a symlink to a directory", `${root}/link-to-dir`],
        ["a FIFO", `${root}/fifo`],
        ["/proc/kmsg", "/proc/kmsg"],
        ["/dev/null", "/dev/null"],
        ["a directory in /sys", "/sys/kernel"],
        ["the same file twice", `${root}/new.txt`],
      ];
      const paths = reads.map(([, path]) => path);
      const before = await session!.execStarts();
      const batched = await readFiles(raw!, paths);
      const batchExecs = (await session!.execStarts()) - before;
      const single = await readEach(raw!, paths);
      const view = (results: Array<{ path: string; content: Uint8Array | null; error: string | null }>) =>
        Object.fromEntries(
          reads.map(([name], index) => [
            name,
            { ...results[index]!, content: results[index]!.content && Buffer.from(results[index]!.content!).toString("base64") },
          ]),
        );
      expect(view(batched)).toEqual(view(single));
      expect(new Set(single.map((result) => result.error))).toEqual(new Set([null, "file_not_found", "is_directory", "invalid_path", "permission_denied"]));
      expect(Buffer.from(batched[2]!.content!).equals(Buffer.from(ALL_BYTES))).toBe(true);
      // One exec for the batch, plus one per path it left (a symlink, a FIFO, /proc, /dev, /sys, the large file).
      const left = [
        "a file over the batch's per-file limit",
        "a symlink to a file",
        "a dangling symlink",
        "a symlink to a directory",
        "a FIFO",
        "/proc/kmsg",
        "/dev/null",
        "a directory in /sys",
      ];
      // An empty readBytes result asks once more whether the path is a FIFO or device (/dev/null).
      expect(batchExecs).toBe(1 + left.length + 1);
    }, 180_000);

    it("reads many files with one exec", async () => {
      const files = Array.from({ length: 20 }, (_, index): [string, Uint8Array] => [`/srv/one-read/f${index}.txt`, encoder.encode(`file ${index}`)]);
      await writeFiles(raw!, files);
      const before = await session!.execStarts();
      const results = await readFiles(
        raw!,
        files.map(([path]) => path),
      );
      expect((await session!.execStarts()) - before).toBe(1);
      expect(results.map((result) => [result.path, result.error, Buffer.from(result.content!).toString()])).toEqual(
        files.map(([path], index) => [path, null, `file ${index}`]),
      );
    }, 60_000);

    it("bounds a batch: 256 files per exec, files over 8 MiB per file", async () => {
      const files = Array.from({ length: 300 }, (_, index): [string, Uint8Array] => [`/srv/bounds/f${index}.txt`, encoder.encode(`${index}`)]);
      const large: [string, Uint8Array] = ["/srv/bounds/large.bin", new Uint8Array(BATCH_MAX_FILE_BYTES + 1).fill(7)];
      let before = await session!.execStarts();
      const written = await writeFiles(raw!, [...files, large]);
      expect(written.every((result) => result.error === null)).toBe(true);
      // 256 + 44 files in two batches, the large file by writeBytes.
      expect((await session!.execStarts()) - before).toBe(3);
      before = await session!.execStarts();
      const read = await readFiles(raw!, [...files.map(([path]) => path), large[0]]);
      expect((await session!.execStarts()) - before).toBe(3);
      expect(read.slice(0, 300).map((result) => Buffer.from(result.content!).toString())).toEqual(files.map((_, index) => `${index}`));
      expect(Buffer.from(read[300]!.content!).equals(Buffer.from(large[1]))).toBe(true);
    }, 120_000);
  });
});
