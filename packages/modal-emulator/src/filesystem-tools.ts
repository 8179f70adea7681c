import { posix } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CONTAINER_FILE_PROBLEM_MESSAGES,
  ContainerFileError,
  type ContainerFileProblem,
  ContainerPathResolver,
  type EngineContainer,
  type EngineExec,
  isOnPseudoFilesystem,
  openArchivedFile,
  problemOfEngineError,
  problemOfText,
  type ResolvedContainerPath,
  readPlanOf,
  readThroughSandbox,
  writeContainerFiles,
} from "@sandbox/docker-engine";
import * as tar from "tar-stream";
import { type ExecSession, SIGKILL, type StdinSink } from "./exec-session.js";

/** The argv[0] the SDK execs for every `sandbox.filesystem` call. */
export const FILESYSTEM_TOOL_PATH = "/__modal/.bin/modal-sandbox-fs-tools";

/** One request of the filesystem helper protocol (argv[1], JSON). */
export type FilesystemToolRequest =
  | { ReadFile: { path: string } }
  | { WriteFile: { path: string } }
  | { ListFiles: { path: string } }
  | { Stat: { path: string } }
  | { MakeDirectory: { path: string; parents?: boolean } }
  | { Remove: { path: string; recursive?: boolean } }
  | { Watch: { path: string; recursive?: boolean; filter?: string[] | null; timeout_secs?: number | null } };

/** The error kinds the SDK maps to its `SandboxFilesystem*Error` classes. */
export type FilesystemErrorKind =
  | "NotFound"
  | "IsDirectory"
  | "NotDirectory"
  | "PermissionDenied"
  | "FileTooLarge"
  | "PathAlreadyExists"
  | "DirectoryNotEmpty"
  | "NotSupported"
  | "Other";

class FilesystemToolError extends Error {
  constructor(
    readonly kind: FilesystemErrorKind,
    message: string,
  ) {
    super(message);
  }

  /** The helper's answer to a container file problem (the shared engine layer's), in the OS's words. */
  static of(problem: ContainerFileProblem, message = CONTAINER_FILE_PROBLEM_MESSAGES[problem]): FilesystemToolError {
    return new FilesystemToolError(KIND_OF_PROBLEM[problem], message);
  }
}

/**
 * How the helper reports each problem. The SDK turns NotFound, IsDirectory,
 * PermissionDenied and FileTooLarge into their own error classes on a read,
 * NotDirectory on a write; the rest arrive as SandboxFilesystemError with the
 * message, whose words say what happened.
 */
const KIND_OF_PROBLEM: Readonly<Record<ContainerFileProblem, FilesystemErrorKind>> = {
  not_found: "NotFound",
  not_a_directory: "NotDirectory",
  is_directory: "IsDirectory",
  permission_denied: "PermissionDenied",
  too_large: "FileTooLarge",
  not_regular: "Other",
  timed_out: "Other",
  invalid: "Other",
};

/** Rethrows a container file problem as the helper's error; anything else as it is. */
function asToolError(error: unknown): never {
  if (error instanceof ContainerFileError) throw FilesystemToolError.of(error.problem);
  const problem = problemOfEngineError(error);
  if (problem !== null) throw FilesystemToolError.of(problem);
  throw error;
}

/** Throws the helper's error for a path that cannot lead anywhere, or that leads nowhere. */
function existingOrThrow(where: ResolvedContainerPath): NonNullable<ResolvedContainerPath["stat"]> {
  if (where.problem) throw FilesystemToolError.of(where.problem);
  if (!where.stat) throw FilesystemToolError.of("not_found");
  return where.stat;
}

/** Returns the parsed request when `argv` is a filesystem-helper call, else `undefined`. */
export function parseFilesystemToolArgv(argv: readonly string[]): FilesystemToolRequest | undefined {
  if (argv.length !== 2 || argv[0] !== FILESYSTEM_TOOL_PATH) return undefined;
  try {
    const parsed = JSON.parse(argv[1]!) as unknown;
    if (typeof parsed === "object" && parsed !== null && Object.keys(parsed).length === 1) {
      return parsed as FilesystemToolRequest;
    }
  } catch {
    // Not JSON: fall through and let the exec run (and fail) like any other argv.
  }
  return undefined;
}

/** What one archive entry header tells about a path. */
interface PathInfo {
  type: "file" | "directory" | "symlink";
  size: number;
  permissionBits: number;
  uid: number;
  gid: number;
  ownerName: string;
  groupName: string;
  modifiedTimeSeconds: number;
  symlinkTarget: string | null;
}

const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;
/** One path as `stat -c` prints it in the sandbox: raw mode (hex), size, uid, gid, mtime, owner, group. */
const STAT_FORMAT = "'%f %s %u %g %Y %U %G'";
/**
 * Lists the direct children of "$1": per entry, a `stat` line, the name, NUL,
 * the link target (if any), NUL. Names may hold newlines; the stat line cannot.
 */
const LIST_SCRIPT = [
  'cd -- "$1" || exit 3',
  "for f in * .[!.]* ..?*; do",
  '  if [ -e "$f" ] || [ -L "$f" ]; then',
  `    stat -c ${STAT_FORMAT} -- "$f" || exit 4`,
  "    printf '%s\\0' \"$f\"",
  '    if [ -L "$f" ]; then readlink -- "$f"; fi',
  "    printf '\\0'",
  "  fi",
  "done",
].join("\n");
/**
 * Describes "$1" itself in the format of {@link LIST_SCRIPT} (with "$2" = "-L":
 * what a symlink leads to). The kernel resolves the path, so a mount made
 * inside the sandbox is seen.
 */
const STAT_SCRIPT = [
  `stat $2 -c ${STAT_FORMAT} -- "$1" || exit 4`,
  `printf '%s\\0' "$(basename -- "$1")"`,
  'if [ -z "$2" ] && [ -L "$1" ]; then readlink -- "$1"; fi',
  "printf '\\0'",
].join("\n");
/**
 * Default largest file `sandbox.filesystem` reads return (5 GiB). Modal answers a
 * read above its limit with `FileTooLarge` (the SDK raises
 * `SandboxFilesystemFileTooLargeError`); it does not publish the number, and
 * a 6 GiB file is refused there. Configurable with the `maxReadFileBytes` option.
 */
export const DEFAULT_MAX_READ_FILE_BYTES = 5 * 1024 ** 3;
/**
 * Largest read of a path under `/proc`, `/sys`, `/dev` (read through `cat` in
 * the sandbox, whose size is unknown until read: `/dev/zero` never ends). The
 * reader is killed past this, and the read answers `FileTooLarge`.
 */
export const MAX_PROCESS_READ_BYTES = 64 * 1024 * 1024;
/** A read in the sandbox (a pseudo-filesystem path) that takes longer is abandoned and its reader killed. */
const SANDBOX_READ_TIMEOUT_MS = 60_000;
/** Unread bytes a streamed read may get ahead of its client before it pauses. */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** A streamed read whose client takes nothing for this long is abandoned (its stdout closed). */
const READER_STALL_MS = 120_000;
/** How often a `watch` polls the watched tree in the sandbox. */
const WATCH_POLL_MS = 250;
const DIRECTORY_MODE_DEFAULT = 0o755;

function infoFromHeader(header: tar.Header): PathInfo {
  const type = header.type === "directory" ? "directory" : header.type === "symlink" ? "symlink" : "file";
  return {
    type,
    size: type === "file" ? (header.size ?? 0) : type === "symlink" ? Buffer.byteLength(header.linkname ?? "") : 4096,
    permissionBits: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    ownerName: header.uname ?? "",
    groupName: header.gname ?? "",
    modifiedTimeSeconds: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
    symlinkTarget: type === "symlink" ? (header.linkname ?? "") : null,
  };
}

/** What {@link LIST_SCRIPT} or {@link STAT_SCRIPT} printed, per path; `undefined` when it is not their format. */
function parseStatRecords(output: Buffer): Array<{ name: string; info: PathInfo; regular: boolean }> | undefined {
  const fields = output.toString("utf8").split("\0");
  const children: Array<{ name: string; info: PathInfo; regular: boolean }> = [];
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const record = fields[index]!;
    const newline = record.indexOf("\n");
    const [rawMode, size, uid, gid, mtime, owner, group] = record.slice(0, newline).split(" ");
    const mode = Number.parseInt(rawMode ?? "", 16);
    if (newline < 0 || !Number.isFinite(mode)) return undefined;
    const typeBits = mode & 0o170000;
    const type = typeBits === TYPE_BITS.directory ? "directory" : typeBits === TYPE_BITS.symlink ? "symlink" : "file";
    children.push({
      name: record.slice(newline + 1),
      regular: typeBits === TYPE_BITS.file,
      info: {
        type,
        size: Number(size),
        permissionBits: mode & 0o7777,
        uid: Number(uid),
        gid: Number(gid),
        ownerName: owner === "UNKNOWN" ? "" : (owner ?? ""),
        groupName: group === "UNKNOWN" ? "" : (group ?? ""),
        modifiedTimeSeconds: Number(mtime),
        symlinkTarget: type === "symlink" ? (fields[index + 1] ?? "").replace(/\n$/, "") : null,
      },
    });
  }
  return children;
}

/** Permission bits as Modal reports them: `stat -c %a` zero-padded to 4 octal digits ("0644", "4755"). */
function permissionString(bits: number): string {
  return (bits & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Serves the SDK's filesystem helper host-side through the Docker archive API,
 * so `sandbox.filesystem` works in any image, even one without a shell.
 *
 * Why host-side: real Modal mounts a static helper binary at
 * `/__modal/.bin/`; the emulator has no such binary for arbitrary images, and
 * the archive API already gives binary-safe reads and writes with parents
 * created. Only `Remove` needs a process in the container (`rm`/`rmdir`),
 * because the archive API cannot delete.
 */
export class FilesystemToolServer {
  readonly #maxReadFileBytes: number;
  readonly #namespaceMountsOf: (container: EngineContainer) => readonly string[];
  readonly #accountNames = new Map<string, Promise<{ users: Map<number, string>; groups: Map<number, string> }>>();

  /**
   * @param maxReadFileBytes largest file a read returns; larger ones answer `FileTooLarge`.
   * @param namespaceMountsOf the directories mounted inside a container's mount namespace now
   *   (`mountImage`): the archive API sees beneath them, so paths under them are served by
   *   processes in the sandbox, which see what its commands see.
   */
  constructor(maxReadFileBytes = DEFAULT_MAX_READ_FILE_BYTES, namespaceMountsOf: (container: EngineContainer) => readonly string[] = () => []) {
    this.#maxReadFileBytes = maxReadFileBytes;
    this.#namespaceMountsOf = namespaceMountsOf;
  }

  #resolver(container: EngineContainer): ContainerPathResolver {
    return new ContainerPathResolver(container, { namespaceMounts: this.#namespaceMountsOf(container) });
  }

  /**
   * Whether `path` itself (its last component not followed) is seen only by a
   * process in the sandbox: it is, or its parent leads, under a namespace mount.
   * Paths on pseudo-filesystems keep the archive API's answer when nothing is mounted.
   */
  async #seenOnlyInSandbox(container: EngineContainer, path: string): Promise<boolean> {
    if (this.#namespaceMountsOf(container).length === 0) return false;
    const resolver = this.#resolver(container);
    if (resolver.isSandboxOnly(path)) return true;
    const parent = await resolver.resolve(posix.dirname(path)).catch(asToolError);
    return parent.pseudo || resolver.isSandboxOnly(posix.join(parent.resolved, posix.basename(path)));
  }

  /**
   * `stat` of one path by `sh` and `stat` in the sandbox (`follow`: where a
   * symlink leads), for paths the archive API cannot see.
   */
  async #statInSandbox(container: EngineContainer, path: string, follow = false): Promise<{ info: PathInfo; regular: boolean }> {
    const stdout: Buffer[] = [];
    let stderr = "";
    let exitCode: number | null;
    try {
      const exec = await container.exec(["sh", "-c", STAT_SCRIPT, "modal-sandbox-fs-tools", path, follow ? "-L" : ""], {
        onStdout: (chunk) => stdout.push(chunk),
        onStderr: (chunk) => {
          if (stderr.length < 4096) stderr += chunk.toString("utf8");
        },
      });
      exitCode = (await exec.done).exitCode;
    } catch (error) {
      throw new FilesystemToolError("Other", `modal-emulator runs \`sh\` and \`stat\` inside the sandbox for this path, which failed: ${String(error)}`);
    }
    const [record] = exitCode === 0 ? (parseStatRecords(Buffer.concat(stdout)) ?? []) : [];
    if (record) return record;
    throw FilesystemToolError.of(problemOfText(stderr) ?? "not_found");
  }

  /**
   * Runs one helper request as the given exec session: payload to its stdout,
   * a JSON error record to its stderr, exit code 0 or 1.
   */
  run(container: EngineContainer, session: ExecSession, request: FilesystemToolRequest): void {
    let stdinSink: StdinSink | undefined;
    let stdinDone: Promise<Buffer[]> | undefined;
    if ("WriteFile" in request) {
      const chunks: Buffer[] = [];
      let resolveDone!: (chunks: Buffer[]) => void;
      stdinDone = new Promise((resolve) => {
        resolveDone = resolve;
      });
      stdinSink = {
        write: async (chunk) => {
          chunks.push(Buffer.from(chunk));
        },
        end: () => resolveDone(chunks),
      };
    }
    const abort = new AbortController();
    if ("Watch" in request) {
      // The SDK ends a watch by closing its stdin.
      stdinSink = { write: async () => undefined, end: () => abort.abort() };
    }
    session.attachHostOperation(stdinSink, async () => {
      abort.abort();
      session.finish({ signal: SIGKILL });
    });
    void this.#dispatch(container, session, request, stdinDone, abort.signal).then(
      (streamPayload) => {
        if (!streamPayload) return session.finish({ code: 0 });
        // The exit is known; the payload follows as fast as the client reads it.
        session.finishBeforeStdout({ code: 0 });
        void streamPayload().finally(() => session.stdout.close());
      },
      (error: unknown) => {
        const kind = error instanceof FilesystemToolError ? error.kind : "Other";
        const message = error instanceof Error ? error.message : String(error);
        session.appendStderr(Buffer.from(JSON.stringify({ version: 1, error_kind: kind, message })));
        session.finish({ code: 1 });
      },
    );
  }

  async #dispatch(
    container: EngineContainer,
    session: ExecSession,
    request: FilesystemToolRequest,
    stdinDone: Promise<Buffer[]> | undefined,
    signal: AbortSignal,
  ): Promise<void | (() => Promise<void>)> {
    if ("ReadFile" in request) return this.#readFile(container, session, request.ReadFile.path);
    if ("WriteFile" in request) return this.#writeFile(container, request.WriteFile.path, stdinDone!);
    if ("ListFiles" in request) {
      const entries = await this.#listFiles(container, request.ListFiles.path);
      session.appendStdout(Buffer.from(JSON.stringify(entries)));
      return;
    }
    if ("Stat" in request) {
      const entry = await this.#stat(container, request.Stat.path);
      session.appendStdout(Buffer.from(JSON.stringify(entry)));
      return;
    }
    if ("MakeDirectory" in request) return this.#makeDirectory(container, request.MakeDirectory.path, request.MakeDirectory.parents ?? true);
    if ("Remove" in request) return this.#remove(container, request.Remove.path, request.Remove.recursive ?? false);
    if ("Watch" in request) return this.#watch(container, session, request.Watch, signal);
    throw new FilesystemToolError("NotSupported", `unknown filesystem operation ${Object.keys(request)[0]}`);
  }

  /** Reads the archive of `path` and hands entries to `visit` until it returns false. */
  async #walkArchive(container: EngineContainer, path: string, visit: (header: tar.Header, body: Readable) => Promise<boolean>): Promise<void> {
    await this.#visitArchive(await this.#openArchive(container, path), visit);
  }

  async #openArchive(container: EngineContainer, path: string): Promise<NodeJS.ReadableStream> {
    try {
      return await container.getArchive(path);
    } catch (error) {
      return asToolError(error);
    }
  }

  async #visitArchive(source: NodeJS.ReadableStream, visit: (header: tar.Header, body: Readable) => Promise<boolean>): Promise<void> {
    const extract = tar.extract();
    const readable = source as unknown as Readable;
    readable.on("error", (error: Error) => extract.destroy(error));
    readable.pipe(extract);
    try {
      for await (const entry of extract) {
        const keepGoing = await visit(entry.header, entry as unknown as Readable);
        if (!keepGoing) break;
        entry.resume();
      }
    } finally {
      readable.unpipe(extract);
      readable.destroy?.();
      extract.destroy();
    }
  }

  /** Describes `path` itself (a symlink is not followed), or throws NotFound. */
  async #pathInfo(container: EngineContainer, path: string): Promise<PathInfo> {
    let info: PathInfo | undefined;
    await this.#walkArchive(container, path, async (header) => {
      info = infoFromHeader(header);
      return false;
    });
    if (!info) throw new FilesystemToolError("NotFound", "No such file or directory");
    return info;
  }

  async #names(container: EngineContainer): Promise<{ users: Map<number, string>; groups: Map<number, string> }> {
    let pending = this.#accountNames.get(container.id);
    if (!pending) {
      pending = (async () => {
        const parse = async (file: string): Promise<Map<number, string>> => {
          const names = new Map<number, string>();
          const text = await this.#readSmallFile(container, file).catch(() => "");
          for (const line of text.split("\n")) {
            const fields = line.split(":");
            if (fields.length >= 3 && fields[0]) names.set(Number(fields[2]), fields[0]);
          }
          return names;
        };
        return { users: await parse("/etc/passwd"), groups: await parse("/etc/group") };
      })();
      this.#accountNames.set(container.id, pending);
    }
    return pending;
  }

  async #readSmallFile(container: EngineContainer, path: string): Promise<string> {
    const chunks: Buffer[] = [];
    await this.#walkArchive(container, path, async (_header, body) => {
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return false;
    });
    return Buffer.concat(chunks).toString("utf8");
  }

  async #entryJson(container: EngineContainer, path: string, info: PathInfo): Promise<Record<string, unknown>> {
    const names = await this.#names(container);
    const entry: Record<string, unknown> = {
      name: path === "/" ? "/" : posix.basename(path),
      path,
      type: info.type,
      size: info.size,
      mode: TYPE_BITS[info.type] | info.permissionBits,
      permissions: permissionString(info.permissionBits),
      owner: info.ownerName || names.users.get(info.uid) || String(info.uid),
      group: info.groupName || names.groups.get(info.gid) || String(info.gid),
      modified_time: info.modifiedTimeSeconds,
    };
    if (info.symlinkTarget !== null) entry.symlink_target = info.symlinkTarget;
    return entry;
  }

  async #stat(container: EngineContainer, path: string): Promise<Record<string, unknown>> {
    const normalized = posix.normalize(path);
    if (await this.#seenOnlyInSandbox(container, normalized)) {
      return this.#entryJson(container, normalized, (await this.#statInSandbox(container, normalized)).info);
    }
    return this.#entryJson(container, normalized, await this.#pathInfo(container, normalized));
  }

  async #listFiles(container: EngineContainer, path: string): Promise<Array<Record<string, unknown>>> {
    const directory = await this.#resolve(container, path);
    // A pseudo-filesystem is listed by a process in the sandbox, which sees it.
    if (!directory.pseudo && existingOrThrow(directory).kind !== "directory") throw FilesystemToolError.of("not_a_directory");
    const listed = await this.#listWithShell(container, directory.resolved);
    if (directory.pseudo && !listed) {
      const { info } = await this.#statInSandbox(container, directory.resolved, true);
      throw FilesystemToolError.of(info.type === "directory" ? "not_found" : "not_a_directory");
    }
    const children: Array<{ name: string; info: PathInfo }> = listed ?? [];
    if (listed) return this.#entriesJson(container, path, children);
    let rootName: string | undefined;
    await this.#walkArchive(container, directory.resolved, async (header) => {
      const name = header.name.replace(/\/+$/, "");
      if (rootName === undefined) {
        rootName = name;
        return true;
      }
      const relative = name.startsWith(`${rootName}/`) ? name.slice(rootName.length + 1) : name;
      if (relative && !relative.includes("/")) children.push({ name: relative, info: infoFromHeader(header) });
      return true;
    });
    return this.#entriesJson(container, path, children);
  }

  async #entriesJson(container: EngineContainer, path: string, children: Array<{ name: string; info: PathInfo }>): Promise<Array<Record<string, unknown>>> {
    children.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
    const result: Array<Record<string, unknown>> = [];
    for (const child of children) {
      result.push(await this.#entryJson(container, posix.join(path, child.name), child.info));
    }
    return result;
  }

  /**
   * Lists a directory's direct children with `sh` and `stat` inside the
   * sandbox. Why: the archive of a directory holds its whole subtree, so
   * listing `/` that way reads the entire filesystem (seconds). Returns
   * `undefined` when the image has no shell or `stat`, and the caller falls
   * back to the archive.
   */
  async #listWithShell(container: EngineContainer, directory: string): Promise<Array<{ name: string; info: PathInfo }> | undefined> {
    const stdout: Buffer[] = [];
    let exitCode: number | null;
    try {
      const exec = await container.exec(["sh", "-c", LIST_SCRIPT, "modal-sandbox-fs-tools", directory], {
        onStdout: (chunk) => stdout.push(chunk),
      });
      exitCode = (await exec.done).exitCode;
    } catch {
      return undefined;
    }
    if (exitCode !== 0) return undefined;
    return parseStatRecords(Buffer.concat(stdout));
  }

  /** Where `path` leads in the container (the engine layer's symlink walk). */
  async #resolve(container: EngineContainer, path: string): Promise<ResolvedContainerPath> {
    try {
      return await this.#resolver(container).resolve(path);
    } catch (error) {
      return asToolError(error);
    }
  }

  /**
   * Checks the file and its size, then returns the streamer of its content,
   * which runs after the exit is reported and pauses whenever the client is
   * {@link READ_AHEAD_BYTES} behind (a file larger than memory never sits in
   * it). A path that leads onto a pseudo-filesystem is read by a process in
   * the sandbox, at most {@link MAX_PROCESS_READ_BYTES}: past that its reader
   * is killed and the read answers `FileTooLarge`.
   */
  async #readFile(container: EngineContainer, session: ExecSession, path: string): Promise<void | (() => Promise<void>)> {
    const where = await this.#resolve(container, path);
    const plan = readPlanOf(where, this.#maxReadFileBytes);
    if ("problem" in plan) throw plan.problem === "too_large" ? this.#tooLarge(this.#maxReadFileBytes, where.stat?.size) : FilesystemToolError.of(plan.problem);
    if ("sandbox" in plan && !isOnPseudoFilesystem(where.resolved)) return this.#readMounted(container, session, where.resolved);
    if ("sandbox" in plan) {
      const limit = Math.min(MAX_PROCESS_READ_BYTES, this.#maxReadFileBytes);
      const content = await readThroughSandbox(container, where.path, { maxBytes: limit, timeoutMs: SANDBOX_READ_TIMEOUT_MS, devices: "read" }).catch(
        (error: unknown) => {
          if (error instanceof ContainerFileError && error.problem === "too_large") throw this.#tooLarge(limit);
          return asToolError(error);
        },
      );
      session.appendStdout(Buffer.from(content.buffer, content.byteOffset, content.byteLength));
      return;
    }
    // Opened now, so a file that cannot be read fails the exec, not the stream.
    const file = await openArchivedFile(container, plan.file, this.#maxReadFileBytes).catch((error: unknown) => {
      if (error instanceof ContainerFileError && error.problem === "too_large") throw this.#tooLarge(this.#maxReadFileBytes);
      return asToolError(error);
    });
    return async () => {
      try {
        for await (const chunk of file.body) {
          if (session.stdout.closed) break;
          session.appendStdout(chunk);
          if (session.stdout.undeliveredBytes <= READ_AHEAD_BYTES) continue;
          // Resume at half the read-ahead, so the archive stream moves in large steps.
          const stall = AbortSignal.timeout(READER_STALL_MS);
          await session.stdout.waitForReader(READ_AHEAD_BYTES / 2, stall);
          if (stall.aborted && session.stdout.undeliveredBytes > READ_AHEAD_BYTES / 2) break;
        }
      } finally {
        file.close();
      }
    };
  }

  /**
   * A file under a namespace mount: its size is honest (unlike a
   * pseudo-filesystem's), so it is checked against the read limit first, then
   * streamed by `cat` in the sandbox at the client's pace, as an archived file is.
   */
  async #readMounted(container: EngineContainer, session: ExecSession, path: string): Promise<() => Promise<void>> {
    const { info, regular } = await this.#statInSandbox(container, path, true);
    if (info.type === "directory") throw FilesystemToolError.of("is_directory");
    if (!regular) throw FilesystemToolError.of("not_regular");
    if (info.size > this.#maxReadFileBytes) throw this.#tooLarge(this.#maxReadFileBytes, info.size);
    return async () => {
      let exec: EngineExec | undefined;
      let paused = false;
      // What was checked is what is sent: a file that grows while it is read is cut at the limit.
      let budget = this.#maxReadFileBytes;
      const stop = () => void exec?.kill().catch(() => undefined);
      exec = await container.exec(["cat", "--", path], {
        onStdout: (chunk) => {
          if (session.stdout.closed || budget <= 0) return stop();
          if (chunk.byteLength > budget) chunk = chunk.subarray(0, budget);
          budget -= chunk.byteLength;
          session.appendStdout(chunk);
          if (paused || session.stdout.undeliveredBytes <= READ_AHEAD_BYTES) return;
          paused = true;
          exec?.stream.pause();
          const stall = AbortSignal.timeout(READER_STALL_MS);
          void session.stdout.waitForReader(READ_AHEAD_BYTES / 2, stall).then(() => {
            paused = false;
            if (stall.aborted && session.stdout.undeliveredBytes > READ_AHEAD_BYTES / 2) stop();
            else exec?.stream.resume();
          });
        },
      });
      await exec.done;
    };
  }

  /** FileTooLarge naming the limit, and the size when known. */
  #tooLarge(limit: number, size?: number): FilesystemToolError {
    const what = size === undefined ? "File is larger than" : `File is too large (${size} bytes); the read limit is`;
    return new FilesystemToolError("FileTooLarge", `${what} ${limit} bytes`);
  }

  /**
   * `watch()`: reports changes under `path` as the helper does, one JSON line
   * per event (`{"event_type":"Create|Modify|Remove","paths":[...]}`), until
   * the timeout, the client closes stdin, or the sandbox ends.
   *
   * How: the emulator polls the tree in the sandbox every
   * {@link WATCH_POLL_MS} (`find` + `stat`, the images have no inotify tool)
   * and reports the differences, so changes that undo themselves within one
   * poll are not seen and events arrive up to one poll late.
   */
  async #watch(
    container: EngineContainer,
    session: ExecSession,
    watch: { path: string; recursive?: boolean; filter?: string[] | null; timeout_secs?: number | null },
    stop: AbortSignal,
  ): Promise<void> {
    const where = await this.#resolve(container, watch.path);
    // On a pseudo-filesystem the engine sees nothing: `find` in the sandbox does.
    const type = !where.pseudo
      ? existingOrThrow(where).kind
      : isOnPseudoFilesystem(where.resolved)
        ? "directory"
        : (await this.#statInSandbox(container, where.resolved, true)).info.type;
    const target = { path: where.resolved, info: { type } };
    const signals = [stop];
    if (watch.timeout_secs) signals.push(AbortSignal.timeout(watch.timeout_secs * 1000));
    const done = AbortSignal.any(signals);
    const wanted = watch.filter ? new Set(watch.filter) : undefined;
    const depth = target.info.type !== "directory" ? ["-maxdepth", "0"] : watch.recursive ? ["-mindepth", "1"] : ["-mindepth", "1", "-maxdepth", "1"];
    const snapshot = async (): Promise<Map<string, string> | undefined> => {
      const chunks: Buffer[] = [];
      try {
        const exec = await container.exec(["find", target.path, ...depth, "-exec", "stat", "-c", "%s|%f|%y|%n", "{}", "+"], {
          onStdout: (chunk) => chunks.push(chunk),
        });
        await exec.done;
      } catch {
        return undefined;
      }
      const entries = new Map<string, string>();
      for (const line of Buffer.concat(chunks).toString("utf8").split("\n")) {
        const parts = line.split("|");
        if (parts.length >= 4) entries.set(parts.slice(3).join("|"), parts.slice(0, 3).join("|"));
      }
      return entries;
    };
    const emit = (eventType: string, paths: string[]): void => {
      if (paths.length === 0 || (wanted && !wanted.has(eventType))) return;
      session.appendStdout(Buffer.from(`${JSON.stringify({ event_type: eventType, paths })}\n`));
    };
    let previous = await snapshot();
    if (!previous) throw new FilesystemToolError("Other", "modal-emulator watches paths with `find` and `stat` in the sandbox, which this image lacks");
    while (!done.aborted && !session.status) {
      await sleep(WATCH_POLL_MS, undefined, { signal: done }).catch(() => undefined);
      if (done.aborted || session.status) break;
      const current = await snapshot();
      if (!current) break;
      const isDirectory = (signature: string): boolean => (Number.parseInt(signature.split("|")[1] ?? "0", 16) & 0o170000) === TYPE_BITS.directory;
      const created: string[] = [];
      const modified: string[] = [];
      const removed: string[] = [];
      for (const [path, signature] of current) {
        const before = previous.get(path);
        if (before === undefined) created.push(path);
        // A directory's own mtime moves with its entries, which are reported themselves.
        else if (before !== signature && !isDirectory(signature)) modified.push(path);
      }
      for (const path of previous.keys()) if (!current.has(path)) removed.push(path);
      emit("Create", created);
      emit("Modify", modified);
      emit("Remove", removed);
      previous = current;
      if (target.info.type !== "directory" && !current.has(target.path)) break;
    }
  }

  /**
   * Writes the file through the engine layer: symlinks followed, a path that
   * leads onto a pseudo-filesystem or a bind-mounted file (`/dev/shm`,
   * `/etc/hosts`) written by a process in the sandbox, parents created, an
   * existing file keeping its mode.
   */
  async #writeFile(container: EngineContainer, path: string, stdinDone: Promise<Buffer[]>): Promise<void> {
    const content = Buffer.concat(await stdinDone);
    const [written] = await writeContainerFiles(container, [[posix.normalize(path), content]], {
      namespaceMounts: this.#namespaceMountsOf(container),
    }).catch(asToolError);
    if (written?.problem) throw FilesystemToolError.of(written.problem);
  }

  async #makeDirectory(container: EngineContainer, path: string, parents: boolean): Promise<void> {
    const where = await this.#resolve(container, path);
    if (where.pseudo) {
      await this.#runInSandbox(container, parents ? ["mkdir", "-p", "--", where.path] : ["mkdir", "--", where.path]);
      return;
    }
    if (where.problem) throw FilesystemToolError.of(where.problem);
    if (where.stat) {
      if (parents && where.stat.kind === "directory") return;
      throw new FilesystemToolError("PathAlreadyExists", "File exists");
    }
    if (!parents) {
      const parent = await this.#resolve(container, posix.dirname(where.path));
      if (existingOrThrow(parent).kind !== "directory") throw FilesystemToolError.of("not_a_directory");
    }
    // The engine creates the missing parents (mode 0755) of the one entry.
    const pack = tar.pack();
    pack.entry({ name: `${where.resolved.replace(/^\/+/, "")}/`, type: "directory", mode: DIRECTORY_MODE_DEFAULT, mtime: new Date(), uid: 0, gid: 0 });
    pack.finalize();
    await container.putArchive(pack as unknown as NodeJS.ReadableStream, "/").catch(asToolError);
  }

  /**
   * Runs `argv` in the sandbox (`rm`/`rmdir`, which the archive API cannot do; a `mkdir` on a
   * pseudo-filesystem) and maps a failure's message to an error kind.
   */
  async #runInSandbox(container: EngineContainer, argv: string[]): Promise<void> {
    const stderr: Buffer[] = [];
    let outcome: { exitCode: number | null };
    try {
      const exec = await container.exec(argv, { onStderr: (chunk) => stderr.push(chunk) });
      outcome = await exec.done;
    } catch (error) {
      throw new FilesystemToolError("Other", `modal-emulator runs \`${argv[0]}\` inside the sandbox for this, which failed in this image: ${String(error)}`);
    }
    if (outcome.exitCode === 0) return;
    const text = Buffer.concat(stderr).toString("utf8").trim();
    if (/file exists/i.test(text)) throw new FilesystemToolError("PathAlreadyExists", text);
    if (/not empty/i.test(text)) throw new FilesystemToolError("DirectoryNotEmpty", text);
    const problem = problemOfText(text);
    if (problem !== null) throw FilesystemToolError.of(problem, text);
    throw new FilesystemToolError("Other", text || `\`${argv.join(" ")}\` exited with ${outcome.exitCode}`);
  }

  async #remove(container: EngineContainer, path: string, recursive: boolean): Promise<void> {
    const normalized = posix.normalize(path);
    if (normalized === "/") throw new FilesystemToolError("PermissionDenied", "Refusing to remove /");
    if (await this.#seenOnlyInSandbox(container, normalized)) {
      const { info } = await this.#statInSandbox(container, normalized);
      const argv = info.type !== "directory" ? ["rm", "-f", "--", normalized] : recursive ? ["rm", "-rf", "--", normalized] : ["rmdir", "--", normalized];
      return this.#runInSandbox(container, argv);
    }
    let info: Awaited<ReturnType<ContainerPathResolver["stat"]>>;
    try {
      info = await new ContainerPathResolver(container).stat(normalized);
    } catch (error) {
      return asToolError(error);
    }
    if (!info) throw FilesystemToolError.of("not_found");
    let argv: string[];
    if (info.kind === "directory") {
      if (recursive) argv = ["rm", "-rf", "--", normalized];
      else {
        let childCount = 0;
        await this.#walkArchive(container, normalized, async () => {
          childCount++;
          return childCount < 2;
        });
        if (childCount > 1) throw new FilesystemToolError("DirectoryNotEmpty", "Directory not empty");
        argv = ["rmdir", "--", normalized];
      }
    } else {
      argv = ["rm", "-f", "--", normalized];
    }
    await this.#runInSandbox(container, argv);
  }
}
