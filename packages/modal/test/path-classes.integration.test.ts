import { LocalDockerSandbox } from "@sandbox/local-docker";
import { LABELS } from "@sandbox/local-docker/engine";
import { OFFLINE_BUSYBOX_IMAGE } from "@sandbox/test-support";
import type { FileDownloadResponse, FileOperationError, FileUploadResponse } from "deepagents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, type EmulatorSession, startEmulatorSession } from "./support/emulator.js";

/*
 * Issue 10, items 1 and 5: one table of path classes, run against both
 * adapters (local-docker on the engine directly, and @sandbox/modal through
 * the real modal SDK and @sandbox/modal-emulator), each asserting the same
 * per-file answer. Both adapters' files go through @sandbox/docker-engine's
 * container-files module, so they agree by construction; this table is what
 * holds them to it. Every bad path is uploaded or downloaded between two good
 * ones, which must come back intact.
 *
 * The symlink classes failed before that module: an upload through a symlink
 * into /dev/shm reported success while no command saw the file, a download
 * through it said file_not_found, and the two adapters disagreed.
 */

const withDocker = await dockerAvailable();
const appName = `path-classes-${process.pid}`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What both adapters share: deepagents' sandbox backend file and command calls. */
interface FileSandbox {
  execute(command: string): Promise<{ output: string; exitCode: number | null }>;
  uploadFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]>;
  downloadFiles(paths: string[]): Promise<FileDownloadResponse[]>;
  close(): Promise<void>;
}

const ROOT = "/srv/pc";

/** The fixture: one of each path class, made by commands in the sandbox (busybox applets only). */
const FIXTURE = [
  `mkdir -p ${ROOT}/dir && cd ${ROOT}`,
  "printf regular > file.txt && printf good-a > good-a.txt && printf good-b > good-b.txt",
  "printf target > link-target.txt && ln -s link-target.txt link-to-file",
  "ln -s /nonexistent-path-classes/dir link-to-missing",
  "ln -s /proc link-to-proc && ln -s /dev/shm link-to-shm",
  "mkfifo fifo && truncate -s 6G sparse.bin",
  "printf secret > unreadable.txt && chmod 000 unreadable.txt",
  "ln -s loop-b loop-a && ln -s loop-a loop-b",
  "printf in-shm > /dev/shm/pc.txt",
].join(" && ");

/** One download class: the path, and the error (null: the content). */
const DOWNLOADS: Array<[string, string, FileOperationError | null, string?]> = [
  ["a regular file", `${ROOT}/file.txt`, null, "regular"],
  ["a missing file", `${ROOT}/missing.txt`, "file_not_found"],
  ["a directory", `${ROOT}/dir`, "is_directory"],
  ["a path under a regular file", `${ROOT}/file.txt/child`, "file_not_found"],
  ["a symlink to a file (followed)", `${ROOT}/link-to-file`, null, "target"],
  ["a path through a symlink to a missing directory", `${ROOT}/link-to-missing/file.txt`, "file_not_found"],
  ["a path through a symlink into /proc, as /proc/kmsg itself", `${ROOT}/link-to-proc/kmsg`, "permission_denied"],
  ["/proc/kmsg", "/proc/kmsg", "permission_denied"],
  ["a path through a symlink into /dev/shm (read where commands see it)", `${ROOT}/link-to-shm/pc.txt`, null, "in-shm"],
  ["a FIFO with no writer", `${ROOT}/fifo`, "invalid_path"],
  ["/dev/zero (endless)", "/dev/zero", "invalid_path"],
  ["a 6 GiB sparse file (over the read cap)", `${ROOT}/sparse.bin`, "invalid_path"],
  ["a file of mode 000 (root reads it, as cat does)", `${ROOT}/unreadable.txt`, null, "secret"],
  ["a symlink loop", `${ROOT}/loop-a`, "invalid_path"],
];

/** One upload class: the path, the error, and for a success where commands must see the content. */
const UPLOADS: Array<[string, string, FileOperationError | null, string?]> = [
  ["a path under a regular file", `${ROOT}/file.txt/child`, "invalid_path"],
  ["an existing directory", `${ROOT}/dir`, "is_directory"],
  ["a path through a symlink to a missing directory", `${ROOT}/link-to-missing/up.txt`, "invalid_path"],
  ["a symlink to a file (written through, as a redirection does)", `${ROOT}/link-to-file`, null, `${ROOT}/link-target.txt`],
  ["/dev/shm directly (written where commands see it)", "/dev/shm/direct.txt", null, "/dev/shm/direct.txt"],
  ["a path through a symlink into /dev/shm, as /dev/shm directly", `${ROOT}/link-to-shm/up.txt`, null, "/dev/shm/up.txt"],
  ["/proc directly (the kernel refuses a new file)", "/proc/up.txt", "invalid_path"],
  ["a path through a symlink into /proc, as /proc directly", `${ROOT}/link-to-proc/up.txt`, "invalid_path"],
  ["/sys (read-only)", "/sys/up.txt", "permission_denied"],
  ["/etc/hosts (bind-mounted by the engine; written where commands see it)", "/etc/hosts", null, "/etc/hosts"],
];

function pathClassSuite(name: string, open: () => Promise<FileSandbox>): void {
  describe(`${name}: every path class gets the shared per-file answer`, () => {
    let sandbox: FileSandbox | undefined;
    const ready = (): FileSandbox => {
      if (!sandbox) throw new Error("the sandbox was not created (see beforeAll)");
      return sandbox;
    };
    beforeAll(async () => {
      sandbox = await open();
      const made = await sandbox.execute(FIXTURE);
      expect(made.exitCode, made.output).toBe(0);
    }, 180_000);
    afterAll(async () => {
      await sandbox?.close();
    }, 60_000);

    it.each(DOWNLOADS)("download: %s", { timeout: 60_000 }, async (_class, path, error, content) => {
      const started = Date.now();
      const results = await ready().downloadFiles([`${ROOT}/good-a.txt`, path, `${ROOT}/good-b.txt`]);
      expect(Date.now() - started, "the batch must settle promptly").toBeLessThan(30_000);
      expect(results.map((result) => result.path)).toEqual([`${ROOT}/good-a.txt`, path, `${ROOT}/good-b.txt`]);
      expect(results[1]?.error ?? null, `${path}`).toBe(error);
      if (content !== undefined) expect(decoder.decode(results[1]?.content ?? new Uint8Array())).toBe(content);
      else expect(results[1]?.content ?? null).toBeNull();
      expect(results.map((result) => [result.error ?? null, decoder.decode(result.content ?? new Uint8Array())]).filter((_, index) => index !== 1)).toEqual([
        [null, "good-a"],
        [null, "good-b"],
      ]);
    });

    it.each(UPLOADS)("upload: %s", { timeout: 60_000 }, async (_class, path, error, seenAt) => {
      const tag = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const good = [`${ROOT}/up-good-1-${tag}.txt`, `${ROOT}/up-good-2-${tag}.txt`];
      const body = `uploaded ${tag}\n`;
      const results = await ready().uploadFiles([
        [good[0]!, encoder.encode("g1")],
        [path, encoder.encode(body)],
        [good[1]!, encoder.encode("g2")],
      ]);
      expect(results.map((result) => [result.path, result.error ?? null])).toEqual([
        [good[0], null],
        [path, error],
        [good[1], null],
      ]);
      expect((await ready().execute(`cat ${good[0]} ${good[1]}`)).output, "both good files of the batch are written").toBe("g1g2");
      if (seenAt !== undefined) {
        const seen = await ready().execute(`cat ${seenAt}`);
        expect(seen.output, `an upload of ${path} reported success, so commands must see it at ${seenAt}`).toBe(body);
      }
    });

    it("the failed uploads changed nothing they were not allowed to", { timeout: 60_000 }, async () => {
      const check = await ready().execute(`cat ${ROOT}/file.txt; test -d ${ROOT}/dir && echo " dir-intact"; test -L ${ROOT}/link-to-file && echo link-intact`);
      expect(check.output).toBe("regular dir-intact\nlink-intact\n");
    });
  });
}

describe.runIf(withDocker)("path classes (needs a Docker engine)", () => {
  pathClassSuite("local-docker", () => LocalDockerSandbox.create({ imageName: OFFLINE_BUSYBOX_IMAGE, appName }));

  describe("modal through the emulator", () => {
    let session: EmulatorSession | undefined;
    beforeAll(async () => {
      session = await startEmulatorSession();
    }, 120_000);
    afterAll(async () => {
      await session?.stop();
    }, 120_000);
    pathClassSuite("modal (emulator)", () => {
      if (!session) throw new Error("the emulator did not start (see beforeAll)");
      return ModalSandbox.create({ appName });
    });
  });

  afterAll(async () => {
    const { DockerEngine } = await import("@sandbox/local-docker/engine");
    const engine = new DockerEngine();
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
  });
});
