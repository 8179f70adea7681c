import { posix } from "node:path";
import type { EngineContainer } from "@sandbox/docker-engine";
import { EngineError } from "@sandbox/docker-engine";
import type { FileDownloadResponse, FileOperationError, FileUploadResponse } from "deepagents";
import tar from "tar-stream";

/**
 * File transfer through the Engine's archive API: binary-safe, no shell
 * needed in the image, parents created by the engine. Content is streamed
 * into the tar from the caller's buffer and read back into one buffer of the
 * announced size, so a file is never held in host memory more than twice.
 */

/** Maps an archive failure of one file to deepagents' per-file code, or null when it is not a per-file problem. */
export function fileErrorOf(error: unknown): FileOperationError | null {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineError && error.statusCode === 404 && !/container/i.test(message)) return "file_not_found";
  // "device or resource busy": a file the engine bind-mounts (/etc/hosts, /etc/resolv.conf, /etc/hostname).
  if (/permission denied|read-only file system|operation not permitted|device or resource busy/i.test(message)) return "permission_denied";
  if (/is a directory/i.test(message)) return "is_directory";
  if (/not a directory|invalid argument|file name too long/i.test(message)) return "invalid_path";
  return null;
}

function toRelative(path: string): string {
  return posix.normalize(path).replace(/^\/+/, "");
}

async function putOne(container: EngineContainer, files: Array<[string, Uint8Array]>): Promise<void> {
  const pack = tar.pack();
  const now = new Date();
  for (const [path, content] of files) {
    // One buffer view per entry; tar-stream writes it without copying it whole.
    pack.entry({ name: toRelative(path), mode: 0o644, mtime: now, uid: 0, gid: 0 }, Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  }
  pack.finalize();
  await container.putArchive(pack as unknown as NodeJS.ReadableStream, "/");
}

/**
 * Kernel pseudo-filesystems are mounted only inside the container's mount
 * namespace; the archive API would write beneath them into the image layer
 * and report success while the file never appears. Writes there are refused,
 * reads go through `cat` in the container.
 */
const PSEUDO_FILESYSTEMS = ["/proc", "/sys", "/dev"];

function onPseudoFilesystem(path: string): boolean {
  const normalized = posix.normalize(path);
  return PSEUDO_FILESYSTEMS.some((root) => normalized === root || normalized.startsWith(`${root}/`));
}

/** Bounds of one read: at most `maxBytes` of content, within `timeoutMs`. */
export interface ReadLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * Refuses a device, FIFO or socket before reading (an endless stream such as
 * `/dev/zero`, or a FIFO with no writer that would block), then `cat`s the file.
 */
const CAT_REGULAR_SCRIPT = 'if [ -c "$1" ] || [ -b "$1" ] || [ -p "$1" ] || [ -S "$1" ]; then echo "$1: not a regular file" >&2; exit 3; fi; exec cat -- "$1"';

/**
 * Reads a file on a pseudo-filesystem through `cat` in the container. Such
 * files report no honest size (`/proc` says 0), so the bound is enforced while
 * streaming: past `maxBytes`, or after `timeoutMs`, the reader in the sandbox
 * is killed, what was read is dropped and the file is `invalid_path`.
 */
async function readThroughCat(container: EngineContainer, path: string, limits: ReadLimits): Promise<FileDownloadResponse> {
  const chunks: Buffer[] = [];
  let received = 0;
  let exceeded = false;
  let stderr = "";
  let exec: Awaited<ReturnType<EngineContainer["exec"]>> | undefined;
  exec = await container.exec(["sh", "-c", CAT_REGULAR_SCRIPT, "sh", path], {
    onStdout: (chunk) => {
      if (exceeded) return;
      received += chunk.byteLength;
      if (received > limits.maxBytes) {
        exceeded = true;
        chunks.length = 0;
        void exec?.kill();
        return;
      }
      chunks.push(Buffer.from(chunk));
    },
    onStderr: (chunk) => {
      if (stderr.length < 4096) stderr += chunk.toString("utf8");
    },
  });
  if (exceeded) void exec.kill();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limits.timeoutMs);
  });
  const outcome = await Promise.race([exec.done, timedOut]).finally(() => clearTimeout(timer));
  if (outcome === "timeout" || exceeded) {
    await exec.kill();
    return { path, content: null, error: "invalid_path" };
  }
  const { exitCode } = outcome;
  if (exitCode === 0) return { path, content: new Uint8Array(Buffer.concat(chunks)), error: null };
  const code = /no such file|not a directory/i.test(stderr)
    ? "file_not_found"
    : /is a directory/i.test(stderr)
      ? "is_directory"
      : /permission denied|operation not permitted/i.test(stderr)
        ? "permission_denied"
        : "invalid_path";
  return { path, content: null, error: code };
}

/**
 * Writes files. A path that is an existing directory is `is_directory` (the
 * engine would otherwise replace the directory with the file). All other
 * files go in one archive; when that fails, each file is retried alone so
 * every result says what happened to it.
 */
export async function putFiles(container: EngineContainer, files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
  const results: FileUploadResponse[] = files.map(([path]) => ({ path, error: null }));
  const stats = await Promise.all(
    files.map(([path]) => (onPseudoFilesystem(path) ? Promise.resolve(null) : container.stat(path).catch((error: unknown) => error))),
  );
  const batch: number[] = [];
  stats.forEach((stat: unknown, index) => {
    if (onPseudoFilesystem(files[index]![0])) {
      results[index]!.error = "permission_denied";
    } else if (stat instanceof Error) {
      // A HEAD request carries no error text; let the write itself say what is wrong.
      const code = fileErrorOf(stat);
      if (code === null) batch.push(index);
      else results[index]!.error = code;
    } else if ((stat as { isDirectory?: boolean } | null)?.isDirectory) results[index]!.error = "is_directory";
    else batch.push(index);
  });
  if (batch.length === 0) return results;
  try {
    await putOne(
      container,
      batch.map((index) => files[index]!),
    );
  } catch (error) {
    if (batch.length === 1) {
      const code = fileErrorOf(error);
      if (code === null) throw error;
      results[batch[0]!]!.error = code;
      return results;
    }
    // One by one, so every result says what happened to its file: once one
    // file is written the call must not fail as a whole any more.
    let written = false;
    for (const index of batch) {
      try {
        await putOne(container, [files[index]!]);
        written = true;
      } catch (single) {
        const code = fileErrorOf(single);
        if (code === null && (!written || !(await container.isRunning().catch(() => false)))) throw single;
        results[index]!.error = code ?? "permission_denied";
      }
    }
  }
  return results;
}

/**
 * Follows symlinks (at most 16 hops) so reading a link reads its target, as
 * `cat` would. Stops at a pseudo-filesystem (the engine cannot see it):
 * `pseudo` is then true and the read goes through `cat`.
 */
async function resolveLinks(container: EngineContainer, path: string) {
  let current = posix.normalize(path);
  for (let hop = 0; hop < 16; hop += 1) {
    if (onPseudoFilesystem(current)) return { target: current, stat: null, pseudo: true };
    const stat = await container.stat(current);
    if (stat === null || stat.linkTarget === "" || stat.isDirectory) return { target: current, stat };
    current = posix.resolve(posix.dirname(current), stat.linkTarget);
  }
  return { target: current, stat: null };
}

/** A file larger than the read cap: answered per file as `invalid_path`. */
class TooLargeError extends Error {}

async function readRegularFile(container: EngineContainer, path: string, expectedSize: number, maxBytes: number): Promise<Uint8Array> {
  const archive = await container.getArchive(path);
  const extract = tar.extract();
  return new Promise<Uint8Array>((resolve, reject) => {
    let result: Uint8Array | undefined;
    extract.on("entry", (header, stream, next) => {
      if (result !== undefined || header.type !== "file") {
        stream.on("end", next);
        stream.resume();
        return;
      }
      const size = header.size ?? expectedSize;
      // The file grew after the stat: stop before allocating for it.
      if (size > maxBytes) {
        (archive as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        reject(new TooLargeError(`${path}: ${size} bytes, over the read cap of ${maxBytes}`));
        return;
      }
      const target = new Uint8Array(size);
      let offset = 0;
      stream.on("data", (chunk: unknown) => {
        if (!(chunk instanceof Uint8Array)) return;
        target.set(chunk.subarray(0, Math.max(0, size - offset)), offset);
        offset += chunk.byteLength;
      });
      stream.on("end", () => {
        result = target;
        next();
      });
      stream.on("error", reject);
    });
    extract.on("finish", () => (result ? resolve(result) : reject(new EngineError("unknown", `${path}: the archive held no regular file`))));
    extract.on("error", reject);
    (archive as NodeJS.ReadableStream).on("error", reject);
    archive.pipe(extract);
  });
}

/**
 * The engine serialises archive reads per container (about 100-150 ms each),
 * so several regular files are read with one `tar -c` exec instead; a single
 * file, or an image without `tar`, uses the archive API.
 */
const BATCH_READ_MIN_FILES = 2;
const BATCH_READ_MAX_FILES = 256;
/**
 * Larger files skip the batch: the tar exec gathers chunks and joins them (two
 * copies), while the archive API reads into one buffer of the announced size.
 */
const BATCH_READ_MAX_FILE_BYTES = 8 * 1024 * 1024;

async function readManyThroughTar(container: EngineContainer, targets: string[], maxBytes: number): Promise<Map<string, Uint8Array> | null> {
  const extract = tar.extract();
  const contents = new Map<string, Uint8Array>();
  const finished = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      // A file that grew past the cap since its stat is dropped here and read (and refused) alone.
      const keep = header.type === "file" && (header.size ?? 0) <= maxBytes;
      stream.on("data", (chunk: unknown) => {
        if (keep && chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
      });
      stream.on("end", () => {
        if (keep) contents.set(`/${posix.normalize(header.name).replace(/^\/+/, "")}`, new Uint8Array(Buffer.concat(chunks)));
        next();
      });
      stream.on("error", reject);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  let exec: Awaited<ReturnType<EngineContainer["exec"]>>;
  try {
    exec = await container.exec(["tar", "-cf", "-", "--", ...targets], { onStdout: (chunk) => extract.write(chunk) });
  } catch {
    return null;
  }
  const { exitCode } = await exec.done;
  extract.end(undefined as never);
  await finished.catch(() => undefined);
  if (exitCode !== 0) return null;
  return contents;
}

type ResolvedRead =
  | { path: string; kind: "pseudo" }
  | { path: string; kind: "failed"; error: FileOperationError }
  | { path: string; kind: "missing" }
  | { path: string; kind: "directory" }
  | { path: string; kind: "file"; target: string; size: number };

/** Go's os.FileMode bits of what is not a regular file or directory: symlink, device, named pipe, socket, char device, irregular. */
const SPECIAL_FILE_BITS = (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);

/**
 * Whether some ancestor of `path` exists and is not a directory: the engine
 * answers a path under a regular file with a bare HTTP 500. Such a file
 * cannot exist, as Modal says (`file_not_found`).
 */
async function underNonDirectory(container: EngineContainer, path: string): Promise<boolean> {
  for (let parent = posix.dirname(path); parent !== "/"; parent = posix.dirname(parent)) {
    const stat = await container.stat(parent).catch(() => undefined);
    if (stat === undefined) continue;
    if (stat === null) return false;
    return !stat.isDirectory && stat.linkTarget === "";
  }
  return false;
}

async function resolveRead(container: EngineContainer, path: string): Promise<ResolvedRead> {
  if (onPseudoFilesystem(path)) return { path, kind: "pseudo" };
  try {
    const { target, stat, pseudo } = await resolveLinks(container, path);
    if (pseudo) return { path, kind: "pseudo" };
    if (stat === null) return { path, kind: "missing" };
    if (stat.isDirectory) return { path, kind: "directory" };
    // A FIFO, socket or device has no content to copy (a FIFO would block): not a file to download.
    if ((stat.mode & SPECIAL_FILE_BITS) !== 0) return { path, kind: "failed", error: "invalid_path" };
    return { path, kind: "file", target, size: stat.size };
  } catch (error) {
    const code = fileErrorOf(error);
    if (code !== null) return { path, kind: "failed", error: code };
    if (await underNonDirectory(container, path)) return { path, kind: "missing" };
    throw error;
  }
}

/**
 * Reads files; per-file `file_not_found`, `is_directory`, `invalid_path`,
 * `permission_denied`. A device, FIFO or socket, and a file over
 * `limits.maxBytes` (by its size before reading, or by what it streams), is
 * `invalid_path`; so is a pseudo-filesystem read that outlasts `limits.timeoutMs`.
 */
export async function getFiles(container: EngineContainer, paths: string[], limits: ReadLimits): Promise<FileDownloadResponse[]> {
  const resolved = await Promise.all(paths.map((path) => resolveRead(container, path)));
  const batchMaxBytes = Math.min(BATCH_READ_MAX_FILE_BYTES, limits.maxBytes);
  const targets = [...new Set(resolved.flatMap((entry) => (entry.kind === "file" && entry.size <= batchMaxBytes ? [entry.target] : [])))];
  const batch =
    targets.length >= BATCH_READ_MIN_FILES && targets.length <= BATCH_READ_MAX_FILES ? await readManyThroughTar(container, targets, limits.maxBytes) : null;
  return Promise.all(
    resolved.map(async (entry): Promise<FileDownloadResponse> => {
      const path = entry.path;
      try {
        switch (entry.kind) {
          case "pseudo":
            return await readThroughCat(container, path, limits);
          case "failed":
            return { path, content: null, error: entry.error };
          case "missing":
            return { path, content: null, error: "file_not_found" };
          case "directory":
            return { path, content: null, error: "is_directory" };
          case "file": {
            // Checked from the stat before reading: a 6 GiB sparse file is refused at once.
            if (entry.size > limits.maxBytes) return { path, content: null, error: "invalid_path" };
            const content = batch?.get(entry.target) ?? (await readRegularFile(container, entry.target, entry.size, limits.maxBytes));
            return { path, content, error: null };
          }
        }
      } catch (error) {
        if (error instanceof TooLargeError) return { path, content: null, error: "invalid_path" };
        const code = fileErrorOf(error);
        if (code === null) throw error;
        return { path, content: null, error: code };
      }
    }),
  );
}
