import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readlink, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
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

/**
 * Replaces the existing file at `hostPath` (resolved, inside the root) by a
 * new one written beside it and renamed over it, with the old one's owner
 * and mode: a reader sees the old content or the new, a failed write leaves
 * the old, and a hard link to the old file keeps the old content (the
 * contract's "an upload replaces the file").
 */
async function replaceFile(root: string, hostPath: string, content: Uint8Array): Promise<void> {
  const old = await lstat(hostPath);
  if (old.isDirectory()) throw new PathRefused("is_directory");
  // A FIFO, socket or device is not a file to replace; a symlink here was swapped in after resolution.
  if (!old.isFile()) throw new PathRefused("invalid_path");
  const temporary = join(dirname(hostPath), `.${basename(hostPath)}.upload-${randomBytes(6).toString("hex")}`);
  const file = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  let renamed = false;
  try {
    await assertUnderRoot(root, file.fd);
    // Owner first: chown clears set-id bits, which the mode then restores.
    await file.chown(old.uid, old.gid);
    await file.chmod(old.mode & 0o7777);
    await file.writeFile(content);
    await file.close();
    await rename(temporary, hostPath);
    renamed = true;
  } finally {
    await file.close().catch(() => undefined);
    if (!renamed) await unlink(temporary).catch(() => undefined);
  }
}

/** Writes each file, creating parents; results in input order. A new file gets mode 0644; an existing one is replaced (see {@link replaceFile}). */
export async function putFilesInRoot(root: string, files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
  const results: FileUploadResponse[] = [];
  for (const [path, content] of files) {
    try {
      const hostPath = await hostPathOf(root, path);
      await mkdir(dirname(hostPath), { recursive: true });
      // O_EXCL: only a new file is written where it is; anything already at the path (even a FIFO or a link) is EEXIST.
      const file = await open(hostPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644).catch((error: unknown) => {
        if (errnoOf(error) === "EEXIST") return undefined;
        throw error;
      });
      if (file === undefined) {
        await replaceFile(root, hostPath, content);
      } else {
        try {
          await assertUnderRoot(root, file.fd);
          await file.writeFile(content);
        } finally {
          await file.close();
        }
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
