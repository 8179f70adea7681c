import { posix } from "node:path";
import type { Readable } from "node:stream";
import type { EngineContainer } from "@sandbox/docker-engine";
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

/** Type, permissions and link target: what existence and type checks need. */
interface QuickInfo {
  type: PathInfo["type"];
  permissionBits: number;
  symlinkTarget: string | null;
}

/** Go's `os.ModeSymlink`, as Docker reports modes in its stat header. */
const GO_MODE_SYMLINK = 1 << 27;

const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;
const MAX_SYMLINK_HOPS = 16;
/**
 * Lists the direct children of "$1": per entry, a `stat` line, the name, NUL,
 * the link target (if any), NUL. Names may hold newlines; the stat line cannot.
 */
const LIST_SCRIPT = [
  'cd -- "$1" || exit 3',
  "for f in * .[!.]* ..?*; do",
  '  if [ -e "$f" ] || [ -L "$f" ]; then',
  "    stat -c '%f %s %u %g %Y %U %G' -- \"$f\" || exit 4",
  "    printf '%s\\0' \"$f\"",
  '    if [ -L "$f" ]; then readlink -- "$f"; fi',
  "    printf '\\0'",
  "  fi",
  "done",
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
/** Unread bytes a streamed read may get ahead of its client before it pauses. */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** A streamed read whose client takes nothing for this long is abandoned (its stdout closed). */
const READER_STALL_MS = 120_000;
/** How often a `watch` polls the watched tree in the sandbox. */
const WATCH_POLL_MS = 250;
const FILE_MODE_DEFAULT = 0o644;
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

/** Permission bits as Modal reports them: `stat -c %a` zero-padded to 4 octal digits ("0644", "4755"). */
function permissionString(bits: number): string {
  return (bits & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Roots of the kernel and tmpfs mounts every Docker container gets. The
 * archive API reads and writes the image layers *beneath* these mounts, so a
 * write there would "succeed" invisibly (and a read see stale or empty files):
 * paths under them go through a process in the sandbox instead, where the
 * kernel answers as it would for the sandbox itself.
 */
const KERNEL_MOUNT_ROOTS = ["/proc", "/sys", "/dev"];

/** Files Docker bind-mounts into every container: the archive API cannot replace them (the mount is busy). */
const BIND_MOUNTED_FILES = new Set(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]);

function onKernelMount(path: string): boolean {
  const normalized = posix.normalize(path);
  return BIND_MOUNTED_FILES.has(normalized) || KERNEL_MOUNT_ROOTS.some((root) => normalized === root || normalized.startsWith(`${root}/`));
}

function isNotFound(error: unknown): boolean {
  const statusCode = (error as { statusCode?: number } | null)?.statusCode;
  return statusCode === 404 || /no such file|not found/i.test(String((error as Error)?.message ?? error));
}

function isNotDirectory(error: unknown): boolean {
  return /not a directory/i.test(String((error as Error)?.message ?? error));
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
  readonly #accountNames = new Map<string, Promise<{ users: Map<number, string>; groups: Map<number, string> }>>();

  /** @param maxReadFileBytes largest file a read returns; larger ones answer `FileTooLarge`. */
  constructor(maxReadFileBytes = DEFAULT_MAX_READ_FILE_BYTES) {
    this.#maxReadFileBytes = maxReadFileBytes;
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
    if ("ReadFile" in request) {
      if (onKernelMount(request.ReadFile.path)) return this.#readViaProcess(container, session, request.ReadFile.path);
      return this.#readFile(container, session, request.ReadFile.path);
    }
    if ("WriteFile" in request) {
      if (onKernelMount(request.WriteFile.path)) return this.#writeViaProcess(container, request.WriteFile.path, stdinDone!);
      return this.#writeFile(container, request.WriteFile.path, stdinDone!);
    }
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
    if ("MakeDirectory" in request) {
      if (onKernelMount(request.MakeDirectory.path)) {
        const parents = request.MakeDirectory.parents ?? true;
        await this.#runInSandbox(container, parents ? ["mkdir", "-p", request.MakeDirectory.path] : ["mkdir", request.MakeDirectory.path]);
        return;
      }
      return this.#makeDirectory(container, request.MakeDirectory.path, request.MakeDirectory.parents ?? true);
    }
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
      if (isNotDirectory(error)) throw new FilesystemToolError("NotDirectory", "Not a directory");
      if (isNotFound(error)) throw new FilesystemToolError("NotFound", "No such file or directory");
      throw error;
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

  /**
   * Type, permission bits and link target of `path` through the engine's
   * `stat` (a HEAD request, far cheaper than reading an archive), or
   * `undefined` when it does not exist. A symlink is not followed.
   */
  async #quickStat(container: EngineContainer, path: string): Promise<QuickInfo | undefined> {
    let stat: Awaited<ReturnType<EngineContainer["stat"]>>;
    try {
      stat = await container.stat(path);
    } catch (error) {
      if (isNotDirectory(error)) throw new FilesystemToolError("NotDirectory", "Not a directory");
      if (isNotFound(error)) return undefined;
      // A HEAD answer carries no message: ask the archive API, whose error says why.
      const info = await this.#pathInfo(container, path).catch((archiveError: unknown) => {
        if (archiveError instanceof FilesystemToolError && archiveError.kind === "NotFound") return undefined;
        throw archiveError;
      });
      if (!info) return undefined;
      throw error;
    }
    if (!stat) return undefined;
    const isSymlink = (stat.mode & GO_MODE_SYMLINK) !== 0 || stat.linkTarget !== "";
    return {
      type: stat.isDirectory ? "directory" : isSymlink ? "symlink" : "file",
      permissionBits: stat.mode & 0o777,
      symlinkTarget: isSymlink ? stat.linkTarget : null,
    };
  }

  async #quickStatOrThrow(container: EngineContainer, path: string): Promise<QuickInfo> {
    const info = await this.#quickStat(container, path);
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
    return this.#entryJson(container, normalized, await this.#pathInfo(container, normalized));
  }

  async #listFiles(container: EngineContainer, path: string): Promise<Array<Record<string, unknown>>> {
    const directory = await this.#resolveSymlinks(container, posix.normalize(path));
    if (directory.info.type !== "directory") throw new FilesystemToolError("NotDirectory", "Not a directory");
    const listed = await this.#listWithShell(container, directory.path);
    const children: Array<{ name: string; info: PathInfo }> = listed ?? [];
    if (listed) return this.#entriesJson(container, path, children);
    let rootName: string | undefined;
    await this.#walkArchive(container, directory.path, async (header) => {
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
    const fields = Buffer.concat(stdout).toString("utf8").split("\0");
    const children: Array<{ name: string; info: PathInfo }> = [];
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

  /** Follows symlinks at `path` (the last component) to the real path and its info. */
  async #resolveSymlinks(container: EngineContainer, path: string): Promise<{ path: string; info: QuickInfo }> {
    let current = path;
    for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
      const info = await this.#quickStatOrThrow(container, current);
      if (info.type !== "symlink") return { path: current, info };
      current = posix.resolve(posix.dirname(current), info.symlinkTarget ?? "");
    }
    throw new FilesystemToolError("Other", "Too many levels of symbolic links");
  }

  /**
   * Checks the file and its size, then returns the streamer of its content,
   * which runs after the exit is reported and pauses whenever the client is
   * {@link READ_AHEAD_BYTES} behind (a file larger than memory never sits in it).
   */
  async #readFile(container: EngineContainer, session: ExecSession, path: string): Promise<() => Promise<void>> {
    const target = await this.#resolveSymlinks(container, posix.normalize(path));
    if (target.info.type === "directory") throw new FilesystemToolError("IsDirectory", "Is a directory");
    // The engine's stat is a HEAD request; without it, the archive's first header says the size.
    const size = (await container.stat(target.path).catch(() => null))?.size ?? (await this.#pathInfo(container, target.path)).size;
    if (size > this.#maxReadFileBytes) throw this.#tooLarge(size);
    // The archive API is opened now, so a file that cannot be read fails the exec, not the stream.
    const source = await this.#openArchive(container, target.path);
    return async () => {
      await this.#visitArchive(source, async (header, body) => {
        if ((header.size ?? 0) > this.#maxReadFileBytes) return false;
        for await (const chunk of body) {
          if (session.stdout.closed) break;
          session.appendStdout(chunk as Buffer);
          if (session.stdout.undeliveredBytes <= READ_AHEAD_BYTES) continue;
          // Resume at half the read-ahead, so the archive stream moves in large steps.
          const stall = AbortSignal.timeout(READER_STALL_MS);
          await session.stdout.waitForReader(READ_AHEAD_BYTES / 2, stall);
          if (stall.aborted && session.stdout.undeliveredBytes > READ_AHEAD_BYTES / 2) break;
        }
        return false;
      });
    };
  }

  #tooLarge(size: number | undefined): FilesystemToolError {
    const what = size === undefined ? "File is larger than" : `File is too large (${size} bytes); the read limit is`;
    const limit = size === undefined ? MAX_PROCESS_READ_BYTES : this.#maxReadFileBytes;
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
    const target = await this.#resolveSymlinks(container, posix.normalize(watch.path));
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
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, WATCH_POLL_MS);
        done.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
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

  /** Finds the deepest existing ancestor of `path`, checking that it is a directory. */
  async #existingAncestor(container: EngineContainer, path: string): Promise<{ path: string; missing: string[] }> {
    const missing: string[] = [];
    let current = path;
    while (current !== "/") {
      const parent = posix.dirname(current);
      missing.unshift(posix.basename(current));
      const info = await this.#quickStat(container, parent);
      if (info) {
        if (info.type === "directory") return { path: parent, missing };
        if (info.type === "symlink") {
          const resolved = await this.#resolveSymlinks(container, parent);
          if (resolved.info.type === "directory") return { path: parent, missing };
        }
        throw new FilesystemToolError("NotDirectory", "Not a directory");
      }
      current = parent;
    }
    return { path: "/", missing };
  }

  async #writeFile(container: EngineContainer, path: string, stdinDone: Promise<Buffer[]>): Promise<void> {
    const normalized = posix.normalize(path);
    const existing = await this.#quickStat(container, normalized);
    let mode = FILE_MODE_DEFAULT;
    if (existing) {
      const resolved = existing.type === "symlink" ? (await this.#resolveSymlinks(container, normalized)).info : existing;
      if (resolved.type === "directory") throw new FilesystemToolError("IsDirectory", "Is a directory");
      mode = resolved.permissionBits || FILE_MODE_DEFAULT;
    }
    const ancestor = await this.#existingAncestor(container, normalized);
    const content = Buffer.concat(await stdinDone);
    const pack = tar.pack();
    const now = new Date();
    let prefix = "";
    for (const directory of ancestor.missing.slice(0, -1)) {
      prefix = prefix ? `${prefix}/${directory}` : directory;
      pack.entry({ name: `${prefix}/`, type: "directory", mode: DIRECTORY_MODE_DEFAULT, mtime: now, uid: 0, gid: 0 });
    }
    const fileName = prefix ? `${prefix}/${ancestor.missing.at(-1)}` : ancestor.missing.at(-1)!;
    pack.entry({ name: fileName, type: "file", mode, size: content.length, mtime: now, uid: 0, gid: 0 }, content);
    pack.finalize();
    await this.#putArchive(container, pack, ancestor.path);
  }

  async #putArchive(container: EngineContainer, pack: tar.Pack, directory: string): Promise<void> {
    try {
      await container.putArchive(pack as unknown as NodeJS.ReadableStream, directory);
    } catch (error) {
      if (/read-only/i.test(String((error as Error)?.message))) {
        throw new FilesystemToolError("PermissionDenied", "Read-only file system");
      }
      if (/permission denied/i.test(String((error as Error)?.message))) {
        throw new FilesystemToolError("PermissionDenied", "Permission denied");
      }
      throw error;
    }
  }

  async #makeDirectory(container: EngineContainer, path: string, parents: boolean): Promise<void> {
    const normalized = posix.normalize(path);
    const existing = await this.#quickStat(container, normalized);
    if (existing) {
      const resolved = existing.type === "symlink" ? (await this.#resolveSymlinks(container, normalized)).info : existing;
      if (parents && resolved.type === "directory") return;
      throw new FilesystemToolError("PathAlreadyExists", "File exists");
    }
    const ancestor = await this.#existingAncestor(container, normalized);
    if (!parents && ancestor.missing.length > 1) throw new FilesystemToolError("NotFound", "No such file or directory");
    const pack = tar.pack();
    const now = new Date();
    let prefix = "";
    for (const directory of ancestor.missing) {
      prefix = prefix ? `${prefix}/${directory}` : directory;
      pack.entry({ name: `${prefix}/`, type: "directory", mode: DIRECTORY_MODE_DEFAULT, mtime: now, uid: 0, gid: 0 });
    }
    pack.finalize();
    await this.#putArchive(container, pack, ancestor.path);
  }

  /**
   * Runs `argv` in the sandbox and maps a failure's message to an error kind.
   * @returns the command's stdout.
   */
  async #runInSandbox(
    container: EngineContainer,
    argv: string[],
    stdin?: Buffer,
    onStdout?: (chunk: Buffer) => void,
    onStarted?: (exec: { kill(): Promise<void> }) => void,
  ): Promise<void> {
    const stderr: Buffer[] = [];
    let outcome: { exitCode: number | null };
    try {
      const exec = await container.exec(argv, {
        stdin: stdin !== undefined,
        ...(onStdout ? { onStdout } : {}),
        onStderr: (chunk) => stderr.push(chunk),
      });
      onStarted?.(exec);
      if (stdin !== undefined && exec.stdin) {
        const input = exec.stdin;
        await new Promise<void>((resolve) => input.end(stdin, () => resolve()));
      }
      outcome = await exec.done;
    } catch (error) {
      throw new FilesystemToolError("Other", `modal-emulator runs \`${argv[0]}\` in the sandbox for this path, which failed: ${String(error)}`);
    }
    if (outcome.exitCode === 0) return;
    const text = Buffer.concat(stderr).toString("utf8").trim();
    if (/read-only|permission denied|operation not permitted/i.test(text)) throw new FilesystemToolError("PermissionDenied", text);
    if (/is a directory/i.test(text)) throw new FilesystemToolError("IsDirectory", text);
    if (/not a directory/i.test(text)) throw new FilesystemToolError("NotDirectory", text);
    if (/file exists/i.test(text)) throw new FilesystemToolError("PathAlreadyExists", text);
    if (/no such file|nonexistent|not found/i.test(text)) throw new FilesystemToolError("NotFound", text);
    throw new FilesystemToolError("Other", text || `\`${argv.join(" ")}\` exited with ${outcome.exitCode}`);
  }

  /**
   * Reads a kernel-mount path with `cat` in the sandbox, at most
   * {@link MAX_PROCESS_READ_BYTES} (or the file limit, if lower): past that the
   * reader is killed inside the sandbox and the read answers `FileTooLarge`.
   */
  async #readViaProcess(container: EngineContainer, session: ExecSession, path: string): Promise<void> {
    const limit = Math.min(MAX_PROCESS_READ_BYTES, this.#maxReadFileBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    let exceeded = false;
    let reader: { kill(): Promise<void> } | undefined;
    await this.#runInSandbox(
      container,
      ["cat", posix.normalize(path)],
      undefined,
      (chunk) => {
        if (exceeded) return;
        total += chunk.length;
        if (total > limit) {
          exceeded = true;
          chunks.length = 0;
          void reader?.kill().catch(() => undefined);
          return;
        }
        chunks.push(chunk);
      },
      (exec) => {
        reader = exec;
      },
    ).catch((error: unknown) => {
      if (!exceeded) throw error;
    });
    if (exceeded) throw this.#tooLarge(undefined);
    for (const chunk of chunks) session.appendStdout(chunk);
  }

  async #writeViaProcess(container: EngineContainer, path: string, stdinDone: Promise<Buffer[]>): Promise<void> {
    const content = Buffer.concat(await stdinDone);
    const script = 'mkdir -p "$(dirname "$1")" && cat > "$1"';
    await this.#runInSandbox(container, ["sh", "-c", script, "modal-sandbox-fs-tools", posix.normalize(path)], content);
  }

  async #remove(container: EngineContainer, path: string, recursive: boolean): Promise<void> {
    const normalized = posix.normalize(path);
    if (normalized === "/") throw new FilesystemToolError("PermissionDenied", "Refusing to remove /");
    const info = await this.#quickStatOrThrow(container, normalized);
    let argv: string[];
    if (info.type === "directory") {
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
    const stderr: Buffer[] = [];
    let outcome: { exitCode: number | null };
    try {
      const exec = await container.exec(argv, { onStderr: (chunk) => stderr.push(chunk) });
      outcome = await exec.done;
    } catch (error) {
      throw new FilesystemToolError(
        "Other",
        `modal-emulator removes files with \`${argv[0]}\` inside the sandbox, which failed in this image: ${String(error)}`,
      );
    }
    if (outcome.exitCode !== 0) {
      const text = Buffer.concat(stderr).toString("utf8").trim();
      if (/permission denied|read-only/i.test(text)) throw new FilesystemToolError("PermissionDenied", text);
      throw new FilesystemToolError(
        "Other",
        text || `\`${argv.join(" ")}\` exited with ${outcome.exitCode}; modal-emulator needs \`${argv[0]}\` in the image to remove files`,
      );
    }
  }
}
