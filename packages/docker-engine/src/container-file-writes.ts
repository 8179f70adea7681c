import tar from "tar-stream";
import { ContainerFileError, type ContainerFileProblem, problemOfEngineError, problemOfText } from "./container-file-problems.js";
import { type ContainerPathOptions, ContainerPathResolver, isWrittenInSandbox } from "./container-paths.js";
import type { EngineContainer } from "./docker-engine.js";
import { EngineError } from "./engine-errors.js";

/** One file's write: done (`problem: null`), or why not. */
export interface ContainerFileWrite {
  path: string;
  problem: ContainerFileProblem | null;
}

/** Mode of a new file; an existing file keeps its own mode and owner, as a shell redirection would. */
const NEW_FILE_MODE = 0o644;

/** Mode of a missing parent directory an upload creates (as `mkdir -p` under the usual umask). */
const NEW_DIRECTORY_MODE = 0o755;

/** Prints "<uid> <gid>" per path argument, in order ("-" where it cannot). */
const OWNERS_SCRIPT = 'for p; do stat -c "%u %g" -- "$p" 2>/dev/null || echo -; done';

/** Bound of one write in the sandbox (the kernel answers at once; only a stuck process takes longer). */
const SANDBOX_WRITE_TIMEOUT_MS = 60_000;

/** Writes stdin to "$1", creating its missing parent directories, as `mkdir -p` and a redirection do. */
const SANDBOX_WRITE_SCRIPT = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"';

/** Options of {@link writeContainerFiles}. */
export interface ContainerWriteOptions extends ContainerPathOptions {
  /**
   * Owner of a file the archive creates (an existing file keeps its own):
   * the ids the container's processes run as, so that a file uploaded to a
   * sandbox running as another user is that user's, as one it wrote would
   * be; the missing parent directories the archive creates too (mode 0755).
   * Default root (0:0). Files written by a process in the sandbox
   * (pseudo-filesystems, bind mounts) are created by the container's user
   * anyway.
   */
  newFileOwner?: { uid: number; gid: number };
}

interface PlannedWrite {
  index: number;
  /** Where the content goes: the resolved path (archive), or the normalized path as asked (in the sandbox, where the kernel resolves it). */
  target: string;
  mode: number;
  /** Owner to give the file: an existing file's own; for a new one (or when it could not be read) `newFileOwner` (default root). */
  uid: number;
  gid: number;
  /** Missing parent directories to create with the new file's owner (only when `newFileOwner` is given). */
  parents: string[];
}

/**
 * The owners of existing files, one `[uid, gid]` per path (undefined where
 * unknown), read by one process in the sandbox: the engine's stat of a path
 * has no owner. Never throws: unknown owners are written as root's, as
 * before.
 */
async function ownersOf(container: EngineContainer, paths: string[]): Promise<Array<[number, number] | undefined>> {
  let output = "";
  try {
    const exec = await container.exec(["sh", "-c", OWNERS_SCRIPT, "sandbox-owners", ...paths], {
      onStdout: (chunk) => {
        output += chunk.toString("utf8");
      },
    });
    await exec.done;
  } catch {
    return paths.map(() => undefined);
  }
  const lines = output.split("\n");
  return paths.map((_, index) => {
    const match = /^(\d+) (\d+)$/.exec(lines[index] ?? "");
    return match ? [Number(match[1]), Number(match[2])] : undefined;
  });
}

async function putArchive(container: EngineContainer, files: Array<PlannedWrite & { content: Uint8Array }>): Promise<void> {
  const pack = tar.pack();
  const now = new Date();
  // Missing parents with an owner (see `newFileOwner`) first, each once; without one the engine makes them root's.
  const parents = new Map<string, { uid: number; gid: number }>();
  for (const { parents: missing, uid, gid } of files) for (const directory of missing) if (!parents.has(directory)) parents.set(directory, { uid, gid });
  for (const [directory, { uid, gid }] of [...parents].sort(([a], [b]) => a.split("/").length - b.split("/").length)) {
    pack.entry({ name: directory.replace(/^\/+/, ""), type: "directory", mode: NEW_DIRECTORY_MODE, mtime: now, uid, gid });
  }
  for (const { target, mode, uid, gid, content } of files) {
    // One buffer view per entry; tar-stream writes it without copying it whole.
    pack.entry({ name: target.replace(/^\/+/, ""), mode, mtime: now, uid, gid }, Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  }
  pack.finalize();
  await container.putArchive(pack as unknown as NodeJS.ReadableStream, "/");
}

/**
 * Writes one file through a process in the sandbox, so it lands where
 * commands see it (a tmpfs such as `/dev/shm`, a bind-mounted `/etc/hosts`)
 * or the kernel refuses it (`/proc`, `/sys`).
 *
 * @throws ContainerFileError with the kernel's answer; EngineError when the container is gone.
 */
export async function writeThroughSandbox(container: EngineContainer, path: string, content: Uint8Array): Promise<void> {
  let stderr = "";
  let exec: Awaited<ReturnType<EngineContainer["exec"]>>;
  try {
    exec = await container.exec(["sh", "-c", SANDBOX_WRITE_SCRIPT, "sandbox-write", path], {
      stdin: true,
      onStderr: (chunk) => {
        if (stderr.length < 4096) stderr += chunk.toString("utf8");
      },
    });
  } catch (error) {
    if (error instanceof EngineError && error.kind === "not-found") throw error;
    throw new ContainerFileError(
      "permission_denied",
      path,
      "only a process in the sandbox can write here, and none could start (the image needs sh, mkdir and cat)",
    );
  }
  const input = exec.stdin!;
  input.on("error", () => undefined);
  input.end(Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), SANDBOX_WRITE_TIMEOUT_MS);
  });
  const outcome = await Promise.race([exec.done, timedOut]).finally(() => clearTimeout(timer));
  if (outcome === "timeout") {
    await exec.kill().catch(() => undefined);
    throw new ContainerFileError("timed_out", path, `not written within ${SANDBOX_WRITE_TIMEOUT_MS} ms`);
  }
  if (outcome.exitCode === 0) return;
  throw new ContainerFileError(problemOfText(stderr) ?? "invalid", path, stderr.trim().split("\n")[0] || undefined);
}

/**
 * Writes files into a container; one result per file, in input order.
 * Symlinks are followed, as a shell redirection would: the content goes
 * where the path leads, and a path that leads onto a pseudo-filesystem, a
 * bind-mounted file or under one of `options.namespaceMounts` is written by a
 * process in the sandbox, exactly as the direct path is. Missing parent directories are created. An existing
 * directory is `is_directory` (the engine would replace it with the file).
 *
 * Everything else goes in one archive; when that fails, each file is
 * retried alone, so once one file is written every result says what
 * happened to its own file.
 *
 * @throws EngineError when the engine fails for another reason than a file
 * and nothing was written.
 */
export async function writeContainerFiles(
  container: EngineContainer,
  files: Array<[string, Uint8Array]>,
  options: ContainerWriteOptions = {},
): Promise<ContainerFileWrite[]> {
  const { uid: newUid, gid: newGid } = options.newFileOwner ?? { uid: 0, gid: 0 };
  const results: ContainerFileWrite[] = files.map(([path]) => ({ path, problem: null }));
  const resolver = new ContainerPathResolver(container, options);
  const resolved = await Promise.all(files.map(([path]) => resolver.resolve(path)));
  const archived: PlannedWrite[] = [];
  const inSandbox: PlannedWrite[] = [];
  resolved.forEach((where, index) => {
    if (where.problem) results[index]!.problem = where.problem;
    else if (where.pseudo || isWrittenInSandbox(where.resolved))
      inSandbox.push({ index, target: where.path, mode: NEW_FILE_MODE, uid: 0, gid: 0, parents: [] });
    else if (where.stat?.kind === "directory") results[index]!.problem = "is_directory";
    // A FIFO would block the writer, a device would take the content somewhere else: neither is replaced.
    else if (where.stat !== null && where.stat.kind !== "file") results[index]!.problem = "not_regular";
    else {
      const parents = options.newFileOwner && !where.stat ? (where.missingParents ?? []) : [];
      archived.push({ index, target: where.resolved, mode: where.stat ? where.stat.permissions : NEW_FILE_MODE, uid: newUid, gid: newGid, parents });
    }
  });
  // The archive replaces a file with its entry's owner and mode: an existing file's own are carried over.
  const replaced = archived.filter((write) => resolved[write.index]!.stat !== null);
  if (replaced.length > 0) {
    const owners = await ownersOf(
      container,
      replaced.map((write) => write.target),
    );
    replaced.forEach((write, index) => {
      const owner = owners[index];
      if (owner) [write.uid, write.gid] = owner;
    });
  }
  let written = false;
  const content = (write: PlannedWrite) => ({ ...write, content: files[write.index]![1] });
  if (archived.length > 0) {
    try {
      await putArchive(container, archived.map(content));
      written = true;
    } catch (error) {
      if (archived.length === 1) {
        const problem = problemOfEngineError(error);
        if (problem === null) throw error;
        results[archived[0]!.index]!.problem = problem;
      } else {
        // One by one, so every result says what happened to its file.
        for (const write of archived) {
          try {
            await putArchive(container, [content(write)]);
            written = true;
          } catch (single) {
            const problem = problemOfEngineError(single);
            if (problem === null && (!written || !(await container.isRunning().catch(() => false)))) throw single;
            results[write.index]!.problem = problem ?? "permission_denied";
          }
        }
      }
    }
  }
  for (const write of inSandbox) {
    try {
      await writeThroughSandbox(container, write.target, files[write.index]![1]);
      written = true;
    } catch (error) {
      if (error instanceof ContainerFileError) results[write.index]!.problem = error.problem;
      else if (!written) throw error;
      else results[write.index]!.problem = problemOfEngineError(error) ?? "permission_denied";
    }
  }
  return results;
}
