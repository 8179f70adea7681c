import { posix } from "node:path";
import type { Readable } from "node:stream";
import { ContainerPathResolver, type DockerEngine, type EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import { containerPid, failSandboxCommand, mountNamespaceUnsupportedReason, runInSandbox, runMountApplet } from "./mount-namespace.js";

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
async function requireMountNamespaces(method: string): Promise<void> {
  const unsupported = await mountNamespaceUnsupportedReason();
  if (unsupported) fail(Status.FAILED_PRECONDITION, `modal-emulator serves ${method} inside the sandbox's mount namespace, but ${unsupported}`);
}

/**
 * `mountImage` / `unmountImage` on Docker: a tmpfs mounted at the path inside
 * the container's mount namespace (by the host's static busybox entered with
 * `nsenter`, see `runMountApplet`; the sandbox itself has no CAP_SYS_ADMIN and
 * cannot undo it), filled with the image's filesystem by the sandbox's own
 * `tar`; unmounting it shows again what it hid. A difference in
 * cost from Modal, which mounts images lazily: the image's files are copied
 * into the sandbox's memory when mounted.
 */
export class DirectoryMounts {
  readonly #engine: DockerEngine;
  readonly #labels: Record<string, string>;
  /** Container id -> the paths mounted in it by `mount`, each with where it led then (symlinks resolved). */
  readonly #mounted = new Map<string, Map<string, string>>();

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
    const mounted = this.#mounted.get(container.id) ?? new Map<string, string>();
    if (mounted.has(path)) fail(Status.ALREADY_EXISTS, `An image is already mounted at ${path}; unmount it first`);
    // The mount point is made by the sandbox itself (its own privileges).
    const made = await runInSandbox(container, ["mkdir", "-p", path]);
    if (made.exitCode !== 0) {
      if (/exists|Not a directory/i.test(made.stderr)) fail(Status.INVALID_ARGUMENT, `Cannot mount at ${path}: it is not a directory`);
      failSandboxCommand(made, "mkdir", `create the mount point ${path}`);
    }
    // Where the path leads (through symlinks), as the engine sees it before the mount hides it.
    const leadsTo = await new ContainerPathResolver(container, { namespaceMounts: this.namespaceMountsOf(container) }).resolve(path).then(
      (where) => (where.pseudo ? path : where.resolved),
      () => path,
    );
    const pid = await containerPid(container);
    const tmpfs = await runMountApplet(pid, "mount", ["-t", "tmpfs", "-o", "mode=0755", "modal-emulator-mount", path.slice(1)]);
    if (tmpfs.exitCode !== 0) fail(Status.INVALID_ARGUMENT, `Cannot mount at ${path}: ${tmpfs.stderr || `mount exited with ${tmpfs.exitCode}`}`);
    mounted.set(path, leadsTo);
    this.#mounted.set(container.id, mounted);
    if (!dockerImage) return;
    try {
      await this.#fill(container, path, dockerImage);
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
    const result = await runMountApplet(pid, "umount", ["-l", path.slice(1)]);
    if (result.exitCode !== 0) fail(Status.INTERNAL, `modal-emulator could not unmount ${path}: ${result.stderr || `umount exited with ${result.exitCode}`}`);
    mounted.delete(path);
  }

  /**
   * The directories mounted in the container now (as asked, and where they
   * led): the filesystem API hands paths under them to a process in the
   * sandbox, since the engine's archive API sees beneath them.
   */
  namespaceMountsOf(container: EngineContainer): string[] {
    return [...(this.#mounted.get(container.id) ?? new Map<string, string>()).entries()].flat();
  }

  /** Forgets the mounts of a container that is gone. */
  forget(container: EngineContainer): void {
    this.#mounted.delete(container.id);
  }

  /**
   * Copies the filesystem of `dockerImage` (an exported, never started
   * container of it) into the mount at `path`, unpacked by the sandbox's own
   * `tar` with the sandbox's own privileges.
   */
  async #fill(container: EngineContainer, path: string, dockerImage: string): Promise<void> {
    const docker = this.#engine.docker;
    const source = await docker.createContainer({ Image: dockerImage, Cmd: ["true"], Labels: this.#labels, NetworkDisabled: true });
    try {
      const archive = await source.export();
      const result = await runInSandbox(container, ["tar", "-x", "-p", "-f", "-", "-C", path], { stdin: archive as Readable });
      if (result.exitCode !== 0) failSandboxCommand(result, "tar", `copy the image into ${path}`);
    } finally {
      await source.remove({ force: true }).catch(() => undefined);
    }
  }
}
