import { DEFAULT_CAP_DROP, DEFAULT_PIDS_LIMIT, type DockerEngine, type EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { MODAL_OBJECT_LABELS } from "./emulator-labels.js";
import { fail } from "./grpc-errors.js";
import type { TaskExecStartRequest } from "./modal-sdk-definitions.js";
import { randomBase62 } from "./object-ids.js";
import { terminalOf } from "./pty-exec.js";
import type { PlannedVolumeMount } from "./sandbox-definition.js";
import { GenericStatus, type SandboxRecord, type SandboxResult } from "./sandbox-record.js";
import { FINISHED_SANDBOX_RETENTION_MS } from "./sandbox-store.js";
import type { SandboxVolumeMount } from "./volume-sync.js";

/** The name the SDK reserves for a sandbox's main container. */
const MAIN_CONTAINER_NAME = "main";
/** Label naming the sidecar a container stands for. */
const SIDECAR_NAME_LABEL = "dev.sandbox.modal-emulator.sidecar-name";

/** What a sidecar container is started from. */
export interface SidecarSpec {
  name: string;
  dockerImage: string;
  /** The container's command; empty: the image's own. */
  args: string[];
  env: Record<string, string>;
  workdir: string | undefined;
  /** Volumes, mounted through private copies as the main container's are. */
  volumes: PlannedVolumeMount[];
  /** With `enabled`: the command runs on a terminal of this size and `TERM`. */
  pty: TaskExecStartRequest["ptyInfo"];
  /** Runs on the created container before its command starts (files it must find at start). */
  prepare?: (container: EngineContainer) => Promise<void>;
}

/** How sidecars get their volumes: the main container's commit/reload semantics (see VolumeSync). */
export interface SidecarVolumeOperations {
  /** Mounts private copies for the container `ownerId` (all or none). */
  mount(ownerId: string, planned: PlannedVolumeMount[]): Promise<SandboxVolumeMount[]>;
  commit(mounts: SandboxVolumeMount[]): Promise<void>;
  unmount(mounts: SandboxVolumeMount[]): Promise<void>;
}

/** One sidecar: its container and, once it stopped, how. */
export class SidecarRecord {
  readonly containerId: string;
  readonly containerName: string;
  readonly container: EngineContainer;
  /** Its private copies of its volumes. */
  readonly volumeMounts: SandboxVolumeMount[];
  result: SandboxResult | undefined;
  readonly #finished: Promise<SandboxResult>;
  #resolve!: (result: SandboxResult) => void;

  constructor(containerId: string, containerName: string, container: EngineContainer, volumeMounts: SandboxVolumeMount[]) {
    this.containerId = containerId;
    this.containerName = containerName;
    this.container = container;
    this.volumeMounts = volumeMounts;
    this.#finished = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Records how it ended (first caller wins). */
  settle(result: SandboxResult): void {
    if (this.result) return;
    this.result = result;
    this.#resolve(result);
  }

  /** The result, or `undefined` if still running after `timeoutMs`. */
  waitFor(timeoutMs: number): Promise<SandboxResult | undefined> {
    if (this.result || timeoutMs <= 0) return Promise.resolve(this.result);
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.#finished,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

/**
 * Sidecar containers (`experimentalSidecars`): further containers that join
 * the sandbox's network namespace (`NetworkMode: container:<main>`, so they
 * reach each other on localhost), with the same hardening as the main one,
 * labelled with the sandbox and removed with it. The command is the
 * container's own process: when it exits, the sidecar has finished. Its
 * volumes behave as the main container's: private copies, committed when it
 * ends or runs `sync`, reloaded with the sandbox's `reloadVolumes()`. With a
 * PTY the command runs on a terminal (`Tty`), sized as `ptyInfo` asks.
 */
export class Sidecars {
  readonly #engine: DockerEngine;
  readonly #labels: Record<string, string>;
  readonly #volumes: SidecarVolumeOperations;
  readonly #bySandbox = new Map<string, SidecarRecord[]>();
  /** Ends in progress (their volume commits), so a shutdown can wait for them. */
  readonly #ending = new Set<Promise<unknown>>();

  constructor(engine: DockerEngine, labels: Record<string, string>, volumes: SidecarVolumeOperations) {
    this.#engine = engine;
    this.#labels = labels;
    this.#volumes = volumes;
  }

  /** Starts a sidecar in a running sandbox. */
  async create(sandbox: SandboxRecord, spec: SidecarSpec): Promise<SidecarRecord> {
    if (!sandbox.running) fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} has already finished`);
    if (!spec.name) fail(Status.INVALID_ARGUMENT, "sidecar name must not be empty");
    if (spec.name === MAIN_CONTAINER_NAME) fail(Status.INVALID_ARGUMENT, `the name "${MAIN_CONTAINER_NAME}" is reserved for the Sandbox's main container`);
    if (this.#of(sandbox).some((sidecar) => sidecar.containerName === spec.name && !sidecar.result)) {
      fail(Status.ALREADY_EXISTS, `A sidecar named "${spec.name}" is already running in sandbox ${sandbox.sandboxId}`);
    }
    const containerId = `ctr-${randomBase62(26)}`;
    const terminal = spec.pty?.enabled ? terminalOf(spec.pty) : undefined;
    const volumeMounts = await this.#volumes.mount(containerId, spec.volumes);
    const docker = this.#engine.docker;
    let raw: Awaited<ReturnType<typeof docker.createContainer>>;
    try {
      raw = await docker.createContainer({
        Image: spec.dockerImage,
        Labels: { ...this.#labels, [MODAL_OBJECT_LABELS.sandboxId]: sandbox.sandboxId, [SIDECAR_NAME_LABEL]: spec.name },
        Env: Object.entries({ ...terminal?.env, ...spec.env }).map(([key, value]) => `${key}=${value}`),
        ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
        ...(spec.args.length > 0 ? { Entrypoint: [spec.args[0]!], Cmd: spec.args.slice(1) } : {}),
        Tty: terminal !== undefined,
        OpenStdin: terminal !== undefined,
        HostConfig: {
          Init: true,
          AutoRemove: false,
          SecurityOpt: ["no-new-privileges"],
          CapDrop: [...DEFAULT_CAP_DROP],
          PidsLimit: DEFAULT_PIDS_LIMIT,
          NetworkMode: `container:${sandbox.container.id}`,
          Mounts: volumeMounts.map((mount) => ({
            Type: "volume" as const,
            Source: mount.privateVolumeName,
            Target: mount.mountPath,
            ReadOnly: mount.readOnly,
          })),
          ...(terminal ? { ConsoleSize: [terminal.rows, terminal.cols] } : {}),
        },
      });
    } catch (error) {
      await this.#volumes.unmount(volumeMounts);
      throw error;
    }
    const sidecar = new SidecarRecord(containerId, spec.name, this.#engine.container(raw.id), volumeMounts);
    try {
      await spec.prepare?.(sidecar.container);
    } catch (error) {
      await raw.remove({ force: true }).catch(() => undefined);
      await this.#volumes.unmount(volumeMounts);
      throw error;
    }
    try {
      await raw.start();
      // Engines that ignore ConsoleSize get the size right after the start.
      if (terminal) await raw.resize({ h: terminal.rows, w: terminal.cols }).catch(() => undefined);
    } catch (error) {
      await raw.remove({ force: true }).catch(() => undefined);
      await this.#volumes.unmount(volumeMounts);
      fail(Status.INVALID_ARGUMENT, `Sidecar "${spec.name}" could not start: ${error instanceof Error ? error.message : String(error)}`);
    }
    const first = this.#of(sandbox).length === 0;
    this.#bySandbox.set(sandbox.sandboxId, [...this.#of(sandbox), sidecar]);
    if (first) void sandbox.ended.then(() => this.#removeAll(sandbox));
    void raw.wait().then(
      async (outcome: { StatusCode?: number }) => {
        const exitcode = outcome.StatusCode ?? 0;
        // As a sandbox's, a sidecar's volume writes are committed when it ends, before it reports the end.
        if (!sidecar.result) await this.#track(this.#volumes.commit(volumeMounts).catch(() => undefined));
        sidecar.settle({ status: exitcode === 0 ? GenericStatus.success : GenericStatus.failure, exitcode, exception: "" });
      },
      () => sidecar.settle({ status: GenericStatus.terminated, exitcode: 0, exception: "Sidecar container is gone" }),
    );
    return sidecar;
  }

  /** The sidecar with this id in the sandbox, or NOT_FOUND. */
  require(sandbox: SandboxRecord, containerId: string): SidecarRecord {
    const sidecar = this.#of(sandbox).find((candidate) => candidate.containerId === containerId);
    if (!sidecar) fail(Status.NOT_FOUND, `Container ${containerId} not found in sandbox ${sandbox.sandboxId}`);
    return sidecar;
  }

  /** The running sidecar with this name (or the latest finished one, when asked). */
  byName(sandbox: SandboxRecord, name: string, includeTerminated: boolean): SidecarRecord | undefined {
    const named = this.#of(sandbox).filter((sidecar) => sidecar.containerName === name);
    return named.find((sidecar) => !sidecar.result) ?? (includeTerminated ? named.at(-1) : undefined);
  }

  list(sandbox: SandboxRecord, includeTerminated: boolean): SidecarRecord[] {
    return this.#of(sandbox).filter((sidecar) => includeTerminated || !sidecar.result);
  }

  /** Stops a sidecar (TERMINATED), removes its container, and commits and removes its volume copies. */
  terminate(sidecar: SidecarRecord): Promise<void> {
    return this.#track(this.#terminate(sidecar));
  }

  /** Resolves once every sidecar end in progress (its volume commit) is done. */
  async drain(): Promise<void> {
    while (this.#ending.size > 0) await Promise.all([...this.#ending]);
  }

  #track<T>(ending: Promise<T>): Promise<T> {
    this.#ending.add(ending);
    void ending.finally(() => this.#ending.delete(ending)).catch(() => undefined);
    return ending;
  }

  async #terminate(sidecar: SidecarRecord): Promise<void> {
    sidecar.settle({ status: GenericStatus.terminated, exitcode: 0, exception: "Sidecar container was terminated" });
    await sidecar.container.raw.remove({ force: true }).catch(() => undefined);
    if (sidecar.volumeMounts.length === 0) return;
    await this.#volumes.commit(sidecar.volumeMounts).catch(() => undefined);
    await this.#volumes.unmount(sidecar.volumeMounts);
  }

  #of(sandbox: SandboxRecord): SidecarRecord[] {
    return this.#bySandbox.get(sandbox.sandboxId) ?? [];
  }

  /** Stops a finished sandbox's sidecars; their records stay (for `wait`) as long as the sandbox's. */
  async #removeAll(sandbox: SandboxRecord): Promise<void> {
    await Promise.all(this.#of(sandbox).map((sidecar) => this.terminate(sidecar)));
    const timer = setTimeout(() => this.#bySandbox.delete(sandbox.sandboxId), FINISHED_SANDBOX_RETENTION_MS);
    timer.unref();
  }
}

/** The `TaskContainerInfo` of a sidecar. */
export function containerInfoOf(sidecar: SidecarRecord) {
  const result = sidecar.result;
  return {
    containerId: sidecar.containerId,
    containerName: sidecar.containerName,
    status: result ? (result.status === GenericStatus.terminated ? "terminated" : "exited") : "running",
    result: result ? { status: result.status, exitcode: result.exitcode, exception: result.exception } : undefined,
  };
}
