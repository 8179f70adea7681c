import { posix } from "node:path";
import { ContainerFileError, type ContainerFileProblem, problemOfEngineError } from "./container-file-problems.js";
import type { EngineContainer } from "./docker-engine.js";
import { EngineError } from "./engine-errors.js";

/**
 * Roots of the kernel and tmpfs mounts every Docker container gets (`/dev`
 * includes `/dev/shm`). They exist only in the container's mount namespace:
 * the engine's archive API reads and writes the image layer *beneath* them,
 * so a write there would "succeed" where no command sees it. A path that
 * leads under one of them, directly or through symlinks, is handed to a
 * process in the sandbox, where the kernel answers.
 */
export const PSEUDO_FILESYSTEM_ROOTS: readonly string[] = Object.freeze(["/proc", "/sys", "/dev"]);

/**
 * Files the engine bind-mounts into every container. The archive API reads
 * them, but cannot replace them (the mount is busy): writes go through a
 * process in the sandbox.
 */
export const BIND_MOUNTED_FILES: readonly string[] = Object.freeze(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]);

/** Whether `path` (absolute) lies on a kernel or tmpfs mount (see {@link PSEUDO_FILESYSTEM_ROOTS}). */
export function isOnPseudoFilesystem(path: string): boolean {
  return isUnderAny(posix.normalize(path), PSEUDO_FILESYSTEM_ROOTS);
}

function isUnderAny(normalized: string, roots: readonly string[]): boolean {
  return roots.some((root) => normalized === root || normalized.startsWith(root === "/" ? "/" : `${root}/`));
}

/** What a resolver knows about the container beyond what the engine reports. */
export interface ContainerPathOptions {
  /**
   * Directories mounted inside the container's mount namespace after it
   * started (absolute, normalized). The engine's archive API sees the
   * directory beneath such a mount, as it does beneath a pseudo-filesystem:
   * paths under them are handed to a process in the sandbox the same way.
   */
  namespaceMounts?: readonly string[];
}

/** Whether a write of `path` must run in the sandbox: on a pseudo-filesystem or a bind-mounted file. */
export function isWrittenInSandbox(path: string): boolean {
  return isOnPseudoFilesystem(path) || BIND_MOUNTED_FILES.includes(posix.normalize(path));
}

/** What a path is, from the engine's stat of it (symlinks not followed). */
export type ContainerPathKind = "file" | "directory" | "symlink" | "special";

/** The engine's stat of one path. */
export interface ContainerPathStat {
  kind: ContainerPathKind;
  size: number;
  /** Permission bits (`0o7777`). */
  permissions: number;
  /** For a symlink: where it leads, fully resolved by the engine (absolute); else "". */
  linkTarget: string;
}

/** Go's os.FileMode bits (as the engine reports them). */
const GO_MODE_DIRECTORY = 2 ** 31;
const GO_MODE_SYMLINK = 1 << 27;
/** Device, named pipe, socket, char device, irregular. */
const GO_MODE_SPECIAL = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);
const GO_MODE_SETUID = 1 << 23;
const GO_MODE_SETGID = 1 << 22;
const GO_MODE_STICKY = 1 << 20;

function statOf(raw: { size: number; mode: number; isDirectory: boolean; linkTarget: string }): ContainerPathStat {
  const mode = raw.mode >>> 0;
  const kind: ContainerPathKind =
    raw.isDirectory || mode >= GO_MODE_DIRECTORY
      ? "directory"
      : (mode & GO_MODE_SYMLINK) !== 0 || raw.linkTarget !== ""
        ? "symlink"
        : (mode & GO_MODE_SPECIAL) !== 0
          ? "special"
          : "file";
  const permissions =
    (mode & 0o777) | ((mode & GO_MODE_SETUID) !== 0 ? 0o4000 : 0) | ((mode & GO_MODE_SETGID) !== 0 ? 0o2000 : 0) | ((mode & GO_MODE_STICKY) !== 0 ? 0o1000 : 0);
  return { kind, size: raw.size, permissions, linkTarget: kind === "symlink" ? raw.linkTarget : "" };
}

/** Where a path leads in a container. */
export interface ResolvedContainerPath {
  /** The path as asked, normalized. */
  path: string;
  /** Where it leads after every symlink among its components, normalized. */
  resolved: string;
  /**
   * `resolved` lies on a pseudo-filesystem (see {@link PSEUDO_FILESYSTEM_ROOTS})
   * or under one of the resolver's `namespaceMounts`: only a process in the
   * sandbox sees it, and `stat` is null (the engine cannot see it).
   */
  pseudo: boolean;
  /** Stat of `resolved` (a symlink at the end is followed); null when nothing is there. */
  stat: ContainerPathStat | null;
  /**
   * When `stat` is null: the directories above `resolved` that do not exist
   * either (shallowest first), which a write would create. Empty or absent
   * otherwise.
   */
  missingParents?: string[];
  /**
   * Why the path cannot lead anywhere: a component that is not a directory,
   * a symlink loop, a parent reached through a symlink whose target does not
   * exist (`not_found`). `stat` is then null.
   */
  problem?: ContainerFileProblem;
}

type Lookup = { stat: ContainerPathStat | null } | { problem: ContainerFileProblem };

/**
 * Resolves paths in one container through the engine's stat (a HEAD request
 * per path component; no shell needed in the image). Lookups are cached for
 * the resolver's lifetime: make one per operation, so a batch of files in
 * one directory asks about that directory once.
 *
 * How: every prefix of the path is stat'ed (in parallel). The engine
 * resolves the parent of what it stats, and reports a symlink's target fully
 * resolved, so the deepest prefix that is a symlink gives where the whole
 * path leads: its target, plus the components after it.
 */
export class ContainerPathResolver {
  readonly #container: EngineContainer;
  readonly #sandboxOnlyRoots: readonly string[];
  readonly #lookups = new Map<string, Promise<Lookup>>();

  constructor(container: EngineContainer, options: ContainerPathOptions = {}) {
    this.#container = container;
    this.#sandboxOnlyRoots = [...PSEUDO_FILESYSTEM_ROOTS, ...(options.namespaceMounts ?? []).map((mount) => posix.normalize(mount))];
  }

  /** Whether only a process in the sandbox sees `path` (absolute): a pseudo-filesystem or a namespace mount. */
  isSandboxOnly(path: string): boolean {
    return isUnderAny(posix.normalize(path), this.#sandboxOnlyRoots);
  }

  /**
   * @throws EngineError when the engine fails for another reason than the
   * path (the container is gone, the engine is down).
   */
  async resolve(path: string): Promise<ResolvedContainerPath> {
    const normalized = posix.normalize(path);
    if (!normalized.startsWith("/")) return { path: normalized, resolved: normalized, pseudo: false, stat: null, problem: "invalid" };
    if (this.isSandboxOnly(normalized)) return { path: normalized, resolved: normalized, pseudo: true, stat: null };
    const parts = normalized.split("/").filter(Boolean);
    if (parts.length === 0) return { path: normalized, resolved: "/", pseudo: false, stat: (await this.#lookupStat("/")) ?? null };
    const prefixes = parts.map((_, index) => `/${parts.slice(0, index + 1).join("/")}`);
    const lookups = await Promise.all(prefixes.map((prefix) => this.#lookup(prefix)));
    const failed = (problem: ContainerFileProblem, resolved = normalized): ResolvedContainerPath => ({
      path: normalized,
      resolved,
      pseudo: false,
      stat: null,
      problem,
    });
    let resolvedPrefix = "";
    let deepestLink = -1;
    for (let index = 0; index < parts.length; index += 1) {
      const lookup = lookups[index]!;
      const rest = parts.slice(index + 1).join("/");
      if ("problem" in lookup) return failed(lookup.problem);
      const stat = lookup.stat;
      if (stat === null) {
        // Missing from here down. Through a symlink whose target is missing too, the parents cannot be created.
        const resolved = posix.join(resolvedPrefix || "/", parts.slice(index).join("/"));
        if (deepestLink === index - 1 && deepestLink >= 0) {
          const target = await this.#lookup(resolvedPrefix);
          if ("problem" in target) return failed(target.problem, resolved);
          if (target.stat === null) return failed("not_found", resolved);
        }
        const missingParents = parts.slice(index, -1).map((_, depth) => posix.join(resolvedPrefix || "/", ...parts.slice(index, index + depth + 1)));
        return { path: normalized, resolved, pseudo: false, stat: null, missingParents };
      }
      if (stat.kind === "symlink") {
        deepestLink = index;
        resolvedPrefix = posix.normalize(stat.linkTarget);
        const leadsTo = posix.join(resolvedPrefix, rest);
        // Past a pseudo-filesystem root or a namespace mount the engine sees the layer beneath it: the kernel resolves the rest.
        if (this.isSandboxOnly(leadsTo)) return { path: normalized, resolved: leadsTo, pseudo: true, stat: null };
        continue;
      }
      resolvedPrefix = posix.join(resolvedPrefix || "/", parts[index]!);
      if (index < parts.length - 1 && stat.kind !== "directory") return failed("not_a_directory");
    }
    const last = lookups[parts.length - 1] as { stat: ContainerPathStat };
    if (last.stat.kind !== "symlink") return { path: normalized, resolved: resolvedPrefix, pseudo: false, stat: last.stat };
    // The path itself is a symlink: what is at its (fully resolved) target.
    const target = await this.#lookup(resolvedPrefix);
    if ("problem" in target) return failed(target.problem, resolvedPrefix);
    if (target.stat === null) {
      // Dangling: a write creates the target, when its directory exists.
      const parent = await this.#lookup(posix.dirname(resolvedPrefix));
      if ("problem" in parent) return failed(parent.problem, resolvedPrefix);
      if (parent.stat?.kind !== "directory") return failed("not_found", resolvedPrefix);
    }
    if (target.stat?.kind === "symlink") return failed("invalid", resolvedPrefix);
    return { path: normalized, resolved: resolvedPrefix, pseudo: false, stat: target.stat };
  }

  /**
   * The engine's stat of `path` itself (a symlink at the end is not
   * followed), or null when nothing is there.
   * @throws ContainerFileError when the path cannot lead anywhere (not a directory, a loop).
   */
  async stat(path: string): Promise<ContainerPathStat | null> {
    const normalized = posix.normalize(path);
    const lookup = await this.#lookup(normalized);
    if ("problem" in lookup) throw new ContainerFileError(lookup.problem, normalized);
    return lookup.stat;
  }

  async #lookupStat(path: string): Promise<ContainerPathStat | null | undefined> {
    const lookup = await this.#lookup(path);
    return "stat" in lookup ? lookup.stat : undefined;
  }

  #lookup(path: string): Promise<Lookup> {
    let pending = this.#lookups.get(path);
    if (!pending) {
      pending = this.#stat(path);
      this.#lookups.set(path, pending);
    }
    return pending;
  }

  async #stat(path: string): Promise<Lookup> {
    try {
      const raw = await this.#container.stat(path);
      return { stat: raw === null ? null : statOf(raw) };
    } catch (error) {
      if (!(error instanceof EngineError) || error.statusCode !== 500) throw error;
    }
    // A HEAD answer carries no text: the archive API's error says why (not a directory, a symlink loop).
    try {
      const archive = (await this.#container.getArchive(path)) as NodeJS.ReadableStream & { destroy?: () => void };
      archive.destroy?.();
    } catch (error) {
      const problem = problemOfEngineError(error);
      if (problem !== null) return { problem };
      throw error;
    }
    throw new EngineError("unknown", `${path}: the engine could not stat it, yet can read it`);
  }
}
