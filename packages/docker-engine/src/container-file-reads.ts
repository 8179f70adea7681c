import { posix } from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { ContainerFileError, type ContainerFileProblem, problemOfEngineError, problemOfText } from "./container-file-problems.js";
import { ContainerPathResolver, type ResolvedContainerPath } from "./container-paths.js";
import type { EngineContainer, EngineExec } from "./docker-engine.js";
import { StreamedBuffer } from "./streamed-buffer.js";

/** Bounds of one read. */
export interface ContainerReadLimits {
  /** At most this many bytes of content: a larger file is `too_large`, by its size or by what it streams. */
  maxBytes: number;
  /** A read in the sandbox (pseudo-filesystems) taking longer is `timed_out`, and its reader is killed. */
  timeoutMs: number;
  /**
   * Devices on a pseudo-filesystem (`/dev/zero`, `/dev/urandom`): `"refuse"`
   * answers `not_regular` before reading (the default); `"read"` reads them
   * up to `maxBytes` (an endless one ends `too_large`), as a process would.
   * FIFOs and sockets are always refused: they have no content to copy.
   */
  devices?: "refuse" | "read";
}

/** One file's read: its content, or why not. */
export type ContainerFileRead = { path: string; content: Uint8Array; problem: null } | { path: string; content: null; problem: ContainerFileProblem };

/** Exit code of the read scripts for a path that is not a regular file. */
const NOT_REGULAR_EXIT = 3;

/** Refuses FIFOs and sockets (and, with `devices: "refuse"`, devices) before `cat`ing the file. */
function sandboxReadScript(devices: "refuse" | "read"): string {
  const tests = devices === "refuse" ? '[ -c "$1" ] || [ -b "$1" ] || [ -p "$1" ] || [ -S "$1" ]' : '[ -p "$1" ] || [ -S "$1" ]';
  return `if ${tests}; then echo "$1: Not a regular file" >&2; exit ${NOT_REGULAR_EXIT}; fi; exec cat -- "$1"`;
}

/**
 * Reads a file through `cat` in the sandbox: for pseudo-filesystems, which
 * the archive API cannot see and whose files report no honest size (`/proc`
 * says 0, `/dev/zero` never ends). The bound is enforced while streaming:
 * past `maxBytes`, or after `timeoutMs`, the reader in the sandbox is killed
 * and what was read is dropped, so host memory stays under the cap.
 *
 * @throws ContainerFileError with the problem; EngineError when no process starts.
 */
export async function readThroughSandbox(container: EngineContainer, path: string, limits: ContainerReadLimits): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let received = 0;
  let exceeded = false;
  let stderr = "";
  let exec: EngineExec | undefined;
  exec = await container.exec(["sh", "-c", sandboxReadScript(limits.devices ?? "refuse"), "sandbox-read", path], {
    onStdout: (chunk) => {
      if (exceeded) return;
      received += chunk.byteLength;
      if (received > limits.maxBytes) {
        exceeded = true;
        chunks.length = 0;
        void exec?.kill().catch(() => undefined);
        return;
      }
      // Kept as delivered (a view of its network chunk, never reused): one copy at the end, not one per chunk.
      chunks.push(chunk);
    },
    onStderr: (chunk) => {
      if (stderr.length < 4096) stderr += chunk.toString("utf8");
    },
  });
  if (exceeded) void exec.kill().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limits.timeoutMs);
  });
  const outcome = await Promise.race([exec.done, timedOut]).finally(() => clearTimeout(timer));
  if (outcome === "timeout" || exceeded) {
    await exec.kill().catch(() => undefined);
    if (exceeded) throw new ContainerFileError("too_large", path, `larger than the read limit of ${limits.maxBytes} bytes`);
    throw new ContainerFileError("timed_out", path, `not read within ${limits.timeoutMs} ms`);
  }
  if (outcome.exitCode === 0) return new Uint8Array(Buffer.concat(chunks));
  const problem = outcome.exitCode === NOT_REGULAR_EXIT ? "not_regular" : (problemOfText(stderr) ?? "invalid");
  throw new ContainerFileError(problem, path);
}

/** A regular file opened through the archive API. */
export interface ArchivedFile {
  /** Size announced by the archive. */
  size: number;
  /** The content, once; ends the archive stream when done or left. */
  body: AsyncIterable<Buffer>;
  /** Stops reading (the body may be left unread). */
  close(): void;
}

/**
 * Opens the regular file at `path` (no symlink at the end: pass a resolved
 * path) through the archive API and reads up to its first header, so a file
 * that cannot be read fails here, not while streaming.
 *
 * @throws ContainerFileError (`too_large` when the archive announces more
 * than `maxBytes`: the file grew since its stat); EngineError otherwise.
 */
export async function openArchivedFile(container: EngineContainer, path: string, maxBytes: number): Promise<ArchivedFile> {
  let source: NodeJS.ReadableStream;
  try {
    source = await container.getArchive(path);
  } catch (error) {
    const problem = problemOfEngineError(error);
    if (problem !== null) throw new ContainerFileError(problem, path);
    throw error;
  }
  const readable = source as unknown as Readable;
  const extract = tar.extract();
  readable.on("error", (error: Error) => extract.destroy(error));
  readable.pipe(extract);
  const close = (): void => {
    readable.unpipe(extract);
    readable.destroy?.();
    extract.destroy();
  };
  const entries = extract[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await entries.next();
      if (next.done) throw new ContainerFileError("not_regular", path, "the archive held no regular file");
      const entry = next.value;
      if (entry.header.type !== "file") {
        entry.resume();
        continue;
      }
      const size = entry.header.size ?? 0;
      if (size > maxBytes) throw new ContainerFileError("too_large", path, `${size} bytes, over the read limit of ${maxBytes}`);
      return { size, body: bodyOf(entry as unknown as Readable, close), close };
    }
  } catch (error) {
    close();
    throw error;
  }
}

async function* bodyOf(entry: Readable, close: () => void): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of entry) yield chunk as Buffer;
  } finally {
    close();
  }
}

/** Reads an archived file into one buffer of its announced size. */
async function readArchivedFile(container: EngineContainer, path: string, maxBytes: number): Promise<Uint8Array> {
  const file = await openArchivedFile(container, path, maxBytes);
  const target = new StreamedBuffer(file.size);
  try {
    for await (const chunk of file.body) target.write(chunk);
  } finally {
    await target.finish();
  }
  return target.content;
}

/**
 * The engine serialises archive reads per container (about 100-150 ms each),
 * so several small regular files are read with one `tar -c` exec instead; a
 * single file, or an image without `tar`, uses the archive API.
 */
const BATCH_READ_MIN_FILES = 2;
/** Files per `tar -c` exec; a longer list is read in several execs, one after another. */
const BATCH_READ_MAX_FILES = 256;
/** Bytes of paths per `tar -c` exec, so its argument list stays far below the kernel's limit. */
const BATCH_READ_MAX_PATH_BYTES = 256 * 1024;
/** Larger files skip the batch: it gathers chunks and joins them (two copies); the archive API reads into one buffer. */
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
  let exec: EngineExec;
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

/**
 * Reads `targets` with one `tar -c` exec per {@link BATCH_READ_MAX_FILES}
 * files, one exec at a time. Every file left out (a batch that failed) is
 * read alone through the archive API by the caller. A long list used to
 * skip the batch altogether: 2000 small files were 2000 archive reads at
 * once, which the engine serialises (over 7 minutes).
 */
async function readInBatches(container: EngineContainer, targets: string[], maxBytes: number): Promise<Map<string, Uint8Array>> {
  const contents = new Map<string, Uint8Array>();
  let start = 0;
  while (start < targets.length) {
    let end = start;
    let pathBytes = 0;
    while (end < targets.length && end - start < BATCH_READ_MAX_FILES) {
      pathBytes += Buffer.byteLength(targets[end]!) + 1;
      if (end > start && pathBytes > BATCH_READ_MAX_PATH_BYTES) break;
      end += 1;
    }
    const chunk = targets.slice(start, end);
    const read = chunk.length >= BATCH_READ_MIN_FILES ? await readManyThroughTar(container, chunk, maxBytes) : null;
    for (const [file, content] of read ?? []) contents.set(file, content);
    start = end;
  }
  return contents;
}

/**
 * What a resolved path holds for a read: a problem, a read in the sandbox
 * (pseudo-filesystem), or a regular file the archive API reads.
 */
export function readPlanOf(
  resolved: ResolvedContainerPath,
  maxBytes: number,
): { problem: ContainerFileProblem } | { sandbox: true } | { file: string; size: number } {
  if (resolved.problem) return { problem: resolved.problem };
  if (resolved.pseudo) return { sandbox: true };
  const stat = resolved.stat;
  if (stat === null) return { problem: "not_found" };
  if (stat.kind === "directory") return { problem: "is_directory" };
  // A FIFO, socket or device has no content to copy (a FIFO would block).
  if (stat.kind !== "file") return { problem: "not_regular" };
  // Checked from the stat before reading: a 6 GiB sparse file is refused at once.
  if (stat.size > maxBytes) return { problem: "too_large" };
  return { file: resolved.resolved, size: stat.size };
}

/**
 * Reads files from a container, each bounded by `limits`; one result per
 * path, in input order. Symlinks are followed (a path that leads onto a
 * pseudo-filesystem is read in the sandbox, as the direct path would be).
 *
 * @throws EngineError when the engine fails for another reason than a file
 * (the container is gone, the engine is down).
 */
export async function readContainerFiles(container: EngineContainer, paths: string[], limits: ContainerReadLimits): Promise<ContainerFileRead[]> {
  const resolver = new ContainerPathResolver(container);
  const plans = await Promise.all(paths.map(async (path) => ({ path, plan: readPlanOf(await resolver.resolve(path), limits.maxBytes) })));
  const batchMaxBytes = Math.min(BATCH_READ_MAX_FILE_BYTES, limits.maxBytes);
  const targets = [...new Set(plans.flatMap(({ plan }) => ("file" in plan && plan.size <= batchMaxBytes ? [plan.file] : [])))];
  const batch = targets.length >= BATCH_READ_MIN_FILES ? await readInBatches(container, targets, limits.maxBytes) : null;
  return Promise.all(
    plans.map(async ({ path, plan }): Promise<ContainerFileRead> => {
      try {
        if ("problem" in plan) return { path, content: null, problem: plan.problem };
        const content =
          "sandbox" in plan
            ? await readThroughSandbox(container, posix.normalize(path), limits)
            : (batch?.get(plan.file) ?? (await readArchivedFile(container, plan.file, limits.maxBytes)));
        return { path, content, problem: null };
      } catch (error) {
        if (error instanceof ContainerFileError) return { path, content: null, problem: error.problem };
        const problem = problemOfEngineError(error);
        if (problem === null) throw error;
        return { path, content: null, problem };
      }
    }),
  );
}
