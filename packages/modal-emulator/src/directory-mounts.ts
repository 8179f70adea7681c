import { posix } from "node:path";
import type { Readable } from "node:stream";
import type { DockerEngine, EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import { containerPid, failNamespaceCommand, mountNamespaceUnsupportedReason, runInMountNamespace } from "./mount-namespace.js";

/** How long filling a mount from an image may take (a large image is copied into memory). */
const FILL_TIMEOUT_MS = 120_000;
/** How long one mkdir / mount / umount may take. */
const COMMAND_TIMEOUT_MS = 15_000;

/** Decodes and checks the `path` bytes of a mount request: an absolute path other than `/`. */
export function mountPathOf(bytes: Uint8Array | undefined, method: string): string {
  const raw = Buffer.from(bytes ?? []).toString("utf8");
  if (!raw.startsWith("/")) fail(Status.INVALID_ARGUMENT, `${method}: path must be absolute, got ${JSON.stringify(raw)}`);
  if (raw.includes("\0")) fail(Status.INVALID_ARGUMENT, `${method}: path must not contain a NUL byte`);
  const path = posix.normalize(raw).replace(/\/+$/, "");
  if (path === "") fail(Status.INVALID_ARGUMENT, `${method}: cannot mount over the root directory`);
  return path;
}

/** Fails with FAILED_PRECONDITION when this process cannot enter sandboxes' mount namespaces. */
export async function requireMountNamespaces(method: string): Promise<void> {
  const unsupported = await mountNamespaceUnsupportedReason();
  if (unsupported) fail(Status.FAILED_PRECONDITION, `modal-emulator serves ${method} inside the sandbox's mount namespace, but ${unsupported}`);
}

/**
 * `mountImage` / `unmountImage` on Docker: a tmpfs mounted at the path inside
 * the container's mount namespace (entered from the host with `nsenter`; the
 * sandbox itself has no CAP_SYS_ADMIN and cannot undo it), filled with the
 * image's filesystem; unmounting it shows again what it hid. A difference in
 * cost from Modal, which mounts images lazily: the image's files are copied
 * into the sandbox's memory when mounted.
 */
export class DirectoryMounts {
  readonly #engine: DockerEngine;
  readonly #labels: Record<string, string>;
  /** Container id -> the paths mounted in it by `mount`. */
  readonly #mounted = new Map<string, Set<string>>();

  constructor(engine: DockerEngine, labels: Record<string, string>) {
    this.#engine = engine;
    this.#labels = labels;
  }

  /**
   * Mounts `dockerImage`'s filesystem (or, without one, an empty directory)
   * at `path` in the running `container`, creating the path if missing.
   */
  async mount(container: EngineContainer, path: string, dockerImage: string | undefined): Promise<void> {
    await requireMountNamespaces("TaskMountDirectory");
    const mounted = this.#mounted.get(container.id) ?? new Set<string>();
    if (mounted.has(path)) fail(Status.ALREADY_EXISTS, `An image is already mounted at ${path}; unmount it first`);
    const pid = await containerPid(container);
    const made = await runInMountNamespace(pid, ["mkdir", "-p", path], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (made.exitCode !== 0) {
      if (/exists|Not a directory/i.test(made.stderr)) fail(Status.INVALID_ARGUMENT, `Cannot mount at ${path}: it is not a directory`);
      failNamespaceCommand(made, "mkdir", `create the mount point ${path}`);
    }
    const tmpfs = await runInMountNamespace(pid, ["mount", "-t", "tmpfs", "-o", "mode=0755", "modal-emulator-mount", path], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (tmpfs.exitCode !== 0) failNamespaceCommand(tmpfs, "mount", `mount a directory at ${path}`);
    mounted.add(path);
    this.#mounted.set(container.id, mounted);
    if (!dockerImage) return;
    try {
      await this.#fill(pid, path, dockerImage);
    } catch (error) {
      await this.unmount(container, path).catch(() => undefined);
      throw error;
    }
  }

  /** Unmounts what `mount` mounted at `path`: the directory shows what was there before. */
  async unmount(container: EngineContainer, path: string): Promise<void> {
    await requireMountNamespaces("TaskUnmountDirectory");
    const mounted = this.#mounted.get(container.id);
    if (!mounted?.has(path)) fail(Status.NOT_FOUND, `No image is mounted at ${path}`);
    const pid = await containerPid(container);
    // Lazy: a process with its working directory inside must not keep the mount.
    const result = await runInMountNamespace(pid, ["umount", "-l", path], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (result.exitCode !== 0) failNamespaceCommand(result, "umount", `unmount ${path}`);
    mounted.delete(path);
  }

  /** Forgets the mounts of a container that is gone. */
  forget(container: EngineContainer): void {
    this.#mounted.delete(container.id);
  }

  /** Copies the filesystem of `dockerImage` into the mount at `path` (an exported, never started container of it). */
  async #fill(pid: number, path: string, dockerImage: string): Promise<void> {
    const docker = this.#engine.docker;
    const source = await docker.createContainer({ Image: dockerImage, Cmd: ["true"], Labels: this.#labels, NetworkDisabled: true });
    try {
      const archive = await source.export();
      const result = await runInMountNamespace(pid, ["tar", "-x", "-p", "-f", "-", "-C", path], {
        stdin: archive as Readable,
        timeoutMs: FILL_TIMEOUT_MS,
      });
      if (result.exitCode !== 0) failNamespaceCommand(result, "tar", `copy the image into ${path}`);
    } finally {
      await source.remove({ force: true }).catch(() => undefined);
    }
  }
}
