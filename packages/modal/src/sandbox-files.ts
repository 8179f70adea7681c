import type { FileDownloadResponse, FileOperationError, FileUploadResponse } from "deepagents";
import type { Sandbox } from "modal";
import { isModalErrorNamed } from "./error-mapping.js";
import { planReadBatches, planWriteBatches, readBatch, writeBatch } from "./sandbox-file-batches.js";

/** Files transferred at once per batch call; each transfer is one exec in the sandbox. */
export const FILE_TRANSFER_CONCURRENCY = 4;

/**
 * The deepagents per-file error an SDK filesystem error stands for, or
 * `undefined` when it is not a per-file problem (the sandbox is gone, the
 * tool failed, ...) and the whole call must fail.
 *
 * Writes: `SandboxFilesystemIsADirectoryError` -> `is_directory`,
 * `SandboxFilesystemPermissionError` -> `permission_denied`,
 * `SandboxFilesystemNotADirectoryError` (a parent is a file) -> `invalid_path`.
 * Reads: `SandboxFilesystemNotFoundError` and `...NotADirectoryError` (a
 * parent is a file, so the file does not exist) -> `file_not_found`,
 * `...IsADirectoryError` -> `is_directory`, `...PermissionError` -> `permission_denied`,
 * `...FileTooLargeError` (over Modal's read limit, or an endless device) -> `invalid_path`,
 * as local-docker answers a file over its cap.
 */
export function fileErrorOf(error: unknown, direction: "read" | "write"): FileOperationError | undefined {
  if (isModalErrorNamed(error, "SandboxFilesystemIsADirectoryError")) return "is_directory";
  if (direction === "read" && isModalErrorNamed(error, "SandboxFilesystemFileTooLargeError")) return "invalid_path";
  if (isModalErrorNamed(error, "SandboxFilesystemPermissionError")) return "permission_denied";
  if (direction === "read" && isModalErrorNamed(error, "SandboxFilesystemNotFoundError", "SandboxFilesystemNotADirectoryError")) return "file_not_found";
  if (
    direction === "write" &&
    isModalErrorNamed(error, "SandboxFilesystemNotADirectoryError", "SandboxFilesystemNotFoundError", "SandboxFilesystemPathAlreadyExistsError")
  ) {
    return "invalid_path";
  }
  // The untyped SandboxFilesystemError carries the OS's words: still a per-file problem.
  if (isModalErrorNamed(error, "SandboxFilesystemError")) {
    const message = error instanceof Error ? error.message : "";
    if (/not a directory|no such file or directory/i.test(message)) return direction === "read" ? "file_not_found" : "invalid_path";
    if (/permission denied|operation not permitted|read-only file system|device or resource busy/i.test(message)) return "permission_denied";
    if (/is a directory/i.test(message)) return "is_directory";
    // No content of a bounded size: a FIFO, socket or device, a read that outlasted its bound, a symlink loop.
    if (/not a regular file|timed out reading|too many levels of symbolic links|file name too long|invalid path/i.test(message)) return "invalid_path";
  }
  return undefined;
}

/** Runs `task` over `items` with at most `limit` in flight; results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await task(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * Whether the writes of a batch can run in any order: no path repeats and
 * none lies under another (a file written under a path the same batch writes
 * as a file must fail, as it would one after the other).
 */
export function independentPaths(paths: readonly string[]): boolean {
  const seen = new Set<string>();
  for (const path of paths) {
    if (seen.has(path)) return false;
    seen.add(path);
  }
  for (const path of paths) {
    for (let cut = path.lastIndexOf("/"); cut > 0; cut = path.lastIndexOf("/", cut - 1)) {
      if (seen.has(path.slice(0, cut))) return false;
    }
  }
  return true;
}

/**
 * Writes files (parents created, existing files replaced), in input order
 * semantics. When the paths are independent, the plain files go in batches
 * of one exec each (see sandbox-file-batches.ts), and the files a batch does
 * not settle, like every file of a dependent batch, go through
 * `sandbox.filesystem.writeBytes` one by one (concurrently only when the
 * paths are independent): the results are exactly the per-file path's.
 * Per-file problems become per-file errors; any other failure rejects the
 * whole call (the caller maps it).
 */
export async function writeFiles(instance: Sandbox, files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
  const independent = independentPaths(files.map(([path]) => path));
  const results: Array<FileUploadResponse | undefined> = files.map(() => undefined);
  // Independent paths may be written in any order: batches first, in one exec each.
  if (independent) {
    for (const batch of planWriteBatches(files)) {
      const outcomes = await writeBatch(
        instance,
        batch.map((index) => files[index]!),
      );
      outcomes.forEach((outcome, position) => {
        const index = batch[position]!;
        if (outcome !== undefined) results[index] = { path: files[index]![0], error: outcome };
      });
    }
  }
  const rest = files.flatMap((file, index) => (results[index] ? [] : [{ file, index }]));
  const written = await writeEach(
    instance,
    rest.map(({ file }) => file),
    independent ? FILE_TRANSFER_CONCURRENCY : 1,
  );
  rest.forEach(({ index }, position) => {
    results[index] = written[position];
  });
  return results as FileUploadResponse[];
}

/** The per-file path: one `writeBytes` (one exec) per file, `concurrency` in flight. */
export function writeEach(instance: Sandbox, files: Array<[string, Uint8Array]>, concurrency: number): Promise<FileUploadResponse[]> {
  return mapLimited(files, concurrency, async ([path, content]) => {
    try {
      await instance.filesystem.writeBytes(content, path);
      return { path, error: null };
    } catch (error) {
      const fileError = fileErrorOf(error, "write");
      if (fileError) return { path, error: fileError };
      throw error;
    }
  });
}

/**
 * Reads files: batches of plain files (and directories, missing paths) with
 * one exec each (see sandbox-file-batches.ts), the rest through
 * `sandbox.filesystem.readBytes` one by one. A file past Modal's
 * read size limit (or an endless device) is `invalid_path`: it is never read
 * again some other way, so memory stays bounded whatever the file is.
 */
export async function readFiles(instance: Sandbox, paths: string[]): Promise<FileDownloadResponse[]> {
  const results: Array<FileDownloadResponse | undefined> = paths.map(() => undefined);
  for (const batch of planReadBatches(paths)) {
    const outcomes = await readBatch(
      instance,
      batch.map((index) => paths[index]!),
    );
    outcomes.forEach((outcome, position) => {
      const index = batch[position]!;
      if (outcome) results[index] = { path: paths[index]!, ...outcome };
    });
  }
  const rest = paths.flatMap((path, index) => (results[index] ? [] : [{ path, index }]));
  const read = await readEach(
    instance,
    rest.map(({ path }) => path),
  );
  rest.forEach(({ index }, position) => {
    results[index] = read[position];
  });
  return results as FileDownloadResponse[];
}

/** The per-file path: one `readBytes` (one exec) per file. */
export function readEach(instance: Sandbox, paths: string[]): Promise<FileDownloadResponse[]> {
  return mapLimited(paths, FILE_TRANSFER_CONCURRENCY, async (path) => {
    try {
      const content = await instance.filesystem.readBytes(path);
      // A FIFO, socket or device reads as empty (or blocks): only an empty read needs the extra check.
      if (content.byteLength === 0 && (await isSpecialFile(instance, path))) return { path, content: null, error: "invalid_path" };
      return { path, content, error: null };
    } catch (error) {
      const fileError = fileErrorOf(error, "read");
      if (fileError) return { path, content: null, error: fileError };
      throw error;
    }
  });
}

/** Whether `path` is a FIFO, socket or device (one exec; asked only after an empty read). */
async function isSpecialFile(instance: Sandbox, path: string): Promise<boolean> {
  const process = await instance.exec(["sh", "-c", 'test -p "$1" || test -S "$1" || test -b "$1" || test -c "$1"', "sandbox-stat", path], {
    mode: "binary",
    stdout: "ignore",
    stderr: "ignore",
    timeoutMs: 30_000,
  });
  return (await process.wait()) === 0;
}
