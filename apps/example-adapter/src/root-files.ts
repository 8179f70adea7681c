import { constants } from "node:fs";
import { lstat, mkdir, open, readlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { FileDownloadResponse, FileOperationError, FileUploadResponse } from "deepagents";

/**
 * File transfer straight on the host file system, under the sandbox root.
 *
 * Paths are resolved the way a process inside the chroot would resolve them:
 * `..` stops at the root and an absolute symlink starts again from the root,
 * so a sandbox cannot point the host at files outside its root by planting
 * symlinks. Each opened file is checked once more through
 * `/proc/self/fd` (a symlink swapped in between is refused).
 */

/** Mounted inside the sandbox only (see sandbox-keeper.ts): invisible from the host side. */
const SANDBOX_ONLY_MOUNTS = ["/proc", "/dev", "/sys"];
const MAX_SYMLINKS = 40;

/** A per-file failure, reported in the result instead of failing the batch. */
class PathRefused extends Error {
  constructor(readonly fileError: FileOperationError) {
    super(fileError);
  }
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** The deepagents per-file code of a file system error; anything else fails the whole batch. */
function fileErrorOf(error: unknown): FileOperationError {
  if (error instanceof PathRefused) return error.fileError;
  switch (errnoOf(error)) {
    case "ENOENT":
      return "file_not_found";
    case "EISDIR":
      return "is_directory";
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return "permission_denied";
    case "ENOTDIR":
    case "ELOOP":
    case "ENAMETOOLONG":
    case "EEXIST":
    case "ENXIO":
      return "invalid_path";
    default:
      throw error;
  }
}

/**
 * Resolves `path` inside `root` like the kernel would for a chrooted process
 * and returns the resolved sandbox path (no symlinks in it, except possibly
 * the last component when `followLast` is false). Components that do not
 * exist yet are kept as they are.
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<string> {
  let resolved: string[] = [];
  let pending = path.split("/").filter(Boolean);
  let missing = false;
  let symlinks = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      resolved.pop();
      continue;
    }
    if (missing) {
      resolved.push(name);
      continue;
    }
    const hostPath = join(root, ...resolved, name);
    const stats = await lstat(hostPath).catch((error: unknown) => {
      if (errnoOf(error) === "ENOENT") return undefined;
      throw error;
    });
    if (stats === undefined) missing = true;
    else if (stats.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++symlinks > MAX_SYMLINKS) throw new PathRefused("invalid_path");
      const target = await readlink(hostPath);
      if (target.startsWith("/")) resolved = [];
      pending = [...target.split("/").filter(Boolean), ...pending];
      continue;
    }
    resolved.push(name);
  }
  return `/${resolved.join("/")}`;
}

/** Resolves a path and refuses the places the host side cannot reach. */
async function hostPathOf(root: string, path: string): Promise<string> {
  const resolved = await resolveInRoot(root, path);
  if (SANDBOX_ONLY_MOUNTS.some((mount) => resolved === mount || resolved.startsWith(`${mount}/`))) {
    // Kernel file systems mounted inside the sandbox: transfers there would
    // land in the empty mount point underneath, unseen by commands.
    throw new PathRefused("permission_denied");
  }
  return join(root, resolved);
}

/** Creates a directory (and its parents) inside the root, resolving each level in the root. */
export async function makeDirectoryInRoot(root: string, path: string): Promise<void> {
  const hostPath = await hostPathOf(root, path);
  await mkdir(hostPath, { recursive: true });
}

/** Throws unless the open file really lies under `root` (a symlink swapped in after resolution). */
async function assertUnderRoot(root: string, fd: number): Promise<void> {
  const opened = await readlink(`/proc/self/fd/${fd}`);
  if (!opened.startsWith(`${root}/`)) throw new PathRefused("permission_denied");
}

/** Writes each file, creating parents; results in input order. */
export async function putFilesInRoot(root: string, files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
  const results: FileUploadResponse[] = [];
  for (const [path, content] of files) {
    try {
      const hostPath = await hostPathOf(root, path);
      await mkdir(dirname(hostPath), { recursive: true });
      // No O_TRUNC yet: nothing is changed before the file is known to be inside the root.
      // O_NONBLOCK: opening a FIFO for writing must not wait for a reader (with none it fails, ENXIO).
      const file = await open(hostPath, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
      try {
        await assertUnderRoot(root, file.fd);
        // A FIFO with a reader, or a socket or device: not a file to replace.
        if (!(await file.stat()).isFile()) throw new PathRefused("invalid_path");
        await file.truncate(0);
        await file.writeFile(content);
      } finally {
        await file.close();
      }
      results.push({ path, error: null });
    } catch (error) {
      results.push({ path, error: fileErrorOf(error) });
    }
  }
  return results;
}

/** Reads each file; results in input order. */
export async function getFilesInRoot(root: string, paths: string[]): Promise<FileDownloadResponse[]> {
  const results: FileDownloadResponse[] = [];
  for (const path of paths) {
    try {
      const hostPath = await hostPathOf(root, path);
      // O_NONBLOCK: opening a FIFO with no writer must not hang the batch.
      const file = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        await assertUnderRoot(root, file.fd);
        const info = await file.stat();
        if (info.isDirectory()) throw new PathRefused("is_directory");
        // A FIFO, socket or device has no content to copy.
        if (!info.isFile()) throw new PathRefused("invalid_path");
        // A Buffer is a Uint8Array: no copy of large files.
        results.push({ path, content: await file.readFile(), error: null });
      } finally {
        await file.close();
      }
    } catch (error) {
      // A path under a regular file cannot exist: file_not_found, as Modal says for reads.
      results.push({ path, content: null, error: errnoOf(error) === "ENOTDIR" ? "file_not_found" : fileErrorOf(error) });
    }
  }
  return results;
}
