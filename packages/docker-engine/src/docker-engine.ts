import { randomUUID } from "node:crypto";
import { type Duplex, PassThrough, type Readable, type Writable } from "node:stream";
import { EXEC_MARKER_VARIABLE, KILL_BY_MARKER_SCRIPT } from "@sandbox/core/host-tools";
import Docker from "dockerode";
import { DockerStreamDemuxer } from "./demux-stream.js";
import { EngineError, type EngineErrorKind, engineMessage, engineUnreachable, statusOf } from "./engine-errors.js";
import { ensureSandboxNetwork, SANDBOX_NETWORKS, type SandboxNetworkKind } from "./sandbox-networks.js";

export { EXEC_MARKER_VARIABLE };

/**
 * Default PID limit of a container (processes and threads): enough for
 * builds and test runners, small enough that a fork bomb is killed within
 * seconds (its processes share the CPU with the killer, so the time to kill
 * grows with the limit).
 */
export const DEFAULT_PIDS_LIMIT = 128;

/**
 * Capabilities taken from Docker's default set: raw sockets (packet
 * crafting, ARP spoofing of neighbours on the bridge), device nodes, file
 * capabilities, audit writes, `chroot` and changing capability sets. An
 * agent's builds, package installs and servers need none of them. Cost:
 * `ping` needs `NET_RAW` (busybox, iputils without ping sockets) and fails;
 * `mknod` of devices fails (FIFOs still work); `chroot` (e.g. `debootstrap`,
 * some build sandboxes) fails. Kept: `CHOWN`, `DAC_OVERRIDE`, `FOWNER`,
 * `FSETID`, `SETUID`, `SETGID` (package managers switch users and fix
 * ownership), `KILL`, `NET_BIND_SERVICE` (a server on port 80).
 */
export const DEFAULT_CAP_DROP: readonly string[] = Object.freeze(["NET_RAW", "MKNOD", "SETFCAP", "AUDIT_WRITE", "SYS_CHROOT", "SETPCAP"]);

/** How long a kill keeps retrying its killer exec in a container short of pids. */
const KILLER_RETRY_MS = 12_000;

/** After this long without a finished in-container killer, a sidecar killer starts too. */
const KILLER_SIDECAR_AFTER_MS = 1_500;

/** At most this many sidecar killers per kill (one that cannot start or leaves survivors is tried again). */
const KILLER_SIDECAR_ATTEMPTS = 3;

/** Label naming the container a sidecar killer works on. */
const SIDECAR_LABEL = "dev.sandbox.kill-sidecar-for";

/** What a container is made of. */
export interface ContainerSpec {
  image: string;
  /** Docker container name (unique per engine). */
  name?: string;
  labels: Record<string, string>;
  env?: Record<string, string>;
  /** Absolute working directory; the engine creates it. */
  workdir?: string;
  /** CPU cores (fractional). */
  cpu?: number;
  memoryMiB?: number;
  /** No network at all (`NetworkMode: none`). */
  blockNetwork?: boolean;
  /**
   * The network to join (ignored with `blockNetwork`). One of the managed
   * sandbox networks (`SANDBOX_NETWORKS`, ensured by the caller with
   * `DockerEngine.ensureSandboxNetwork`; re-created here if it vanished in
   * between) or any network name. Default: Docker's default bridge.
   */
  network?: string;
  /** User (name or uid, optionally `:group`) the container's processes run as. Default: the image's. */
  user?: string;
  volumes?: Array<{ volumeName: string; mountPath: string; readOnly?: boolean }>;
  /**
   * Lifetime: the container's main process is `sleep <seconds>`, so the
   * container stops (and, being auto-removed, disappears) by itself even if
   * the host process that created it was killed. Requires `sleep` in the image.
   */
  lifetimeMs?: number;
  pidsLimit?: number;
  /** OCI runtime, e.g. `"runsc"` for gVisor. */
  runtime?: string;
  gpu?: { count: number; type?: string };
  /** Remove the container when it stops. Default true. */
  autoRemove?: boolean;
  /** TCP ports to publish on the host's 127.0.0.1 only, each on a random free host port. */
  ports?: number[];
}

/** Options of {@link EngineContainer.exec}. */
export interface EngineExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** Open a stdin pipe (`EngineExec.stdin`). Default false: stdin is empty. */
  stdin?: boolean;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** A running exec. */
export interface EngineExec {
  /** Docker's exec id. */
  readonly id: string;
  /** Writable stdin when opened with `stdin: true`, else null. */
  readonly stdin: Writable | null;
  /** The hijacked connection (stdout/stderr in): `pause()` / `resume()` it for flow control. */
  readonly stream: Duplex;
  /** Settles when the process ends: its exit code, or null when killed without one. */
  readonly done: Promise<{ exitCode: number | null; killed: boolean }>;
  /**
   * Kills every process of this exec inside the container (the command and
   * all its descendants, found by their inherited marker variable), repeats
   * until none is left, and resolves when `done` has settled. Pass the
   * exec's process group (the in-container pid of its leader) when known: it
   * is frozen and killed first without forking, which holds against a fork
   * bomb at the PID limit. The first call's options win.
   */
  kill(options?: { processGroup?: number }): Promise<void>;
}

/** A container as listed by {@link DockerEngine.listContainers}. */
export interface ContainerSummary {
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
}

/** Settings of {@link DockerEngine}. */
export interface DockerEngineOptions {
  /** A ready dockerode client; otherwise one is made from `socketPath` or `DOCKER_HOST`. */
  docker?: Docker;
  socketPath?: string;
}

/**
 * The thin layer over the Docker Engine API shared by `@sandbox/local-docker`
 * and `@sandbox/modal-emulator`: containers with safe defaults and a
 * lifetime, execs whose process tree can really be killed, and the archive
 * API for files. No CLI is shelled out to.
 */
export class DockerEngine {
  /** The dockerode client: an escape hatch for anything this layer lacks. */
  readonly docker: Docker;

  constructor(options: DockerEngineOptions = {}) {
    this.docker = options.docker ?? (options.socketPath ? new Docker({ socketPath: options.socketPath }) : new Docker());
  }

  /** Kill sidecars still being removed, by the container they worked on (see {@link EngineContainer.remove}). */
  readonly #sidecarRemovals = new Map<string, Set<Promise<void>>>();

  /** @internal Records a sidecar's removal, so removing its container waits for it. */
  trackSidecarRemoval(containerId: string, removal: Promise<void>): void {
    const pending = this.#sidecarRemovals.get(containerId) ?? new Set<Promise<void>>();
    this.#sidecarRemovals.set(containerId, pending);
    pending.add(removal);
    void removal.finally(() => {
      pending.delete(removal);
      if (pending.size === 0) this.#sidecarRemovals.delete(containerId);
    });
  }

  /** @internal Resolves once every kill sidecar of `containerId` started so far is removed. */
  async sidecarsRemoved(containerId: string): Promise<void> {
    await Promise.all([...(this.#sidecarRemovals.get(containerId) ?? [])]);
  }

  /** @throws EngineError("engine-unavailable") with what to do when no engine answers. */
  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw new EngineError(
        "engine-unavailable",
        `no Docker engine answers (${engineMessage(error)}); start one (for example: bash scripts/start-docker-engine.sh) or set DOCKER_HOST`,
        { cause: error },
      );
    }
  }

  /** The OCI runtimes the engine lists (`docker info`), e.g. `["io.containerd.runc.v2", "runc"]`. */
  async runtimes(): Promise<string[]> {
    const info = (await this.docker.info()) as { Runtimes?: Record<string, unknown> };
    return Object.keys(info.Runtimes ?? {});
  }

  /**
   * Makes sure a managed sandbox network exists (see `SANDBOX_NETWORKS`).
   * @returns its name, for {@link ContainerSpec.network}.
   */
  ensureSandboxNetwork(kind: SandboxNetworkKind): Promise<string> {
    return ensureSandboxNetwork(this.docker, kind);
  }

  /** Whether the engine has a runtime or device driver able to attach GPUs. */
  async hasGpuRuntime(): Promise<boolean> {
    const info = (await this.docker.info()) as { Runtimes?: Record<string, unknown> };
    return Object.keys(info.Runtimes ?? {}).some((name) => name.includes("nvidia"));
  }

  /** The number of CPUs the engine reports (`NCPU`), or undefined when it reports none. */
  async cpuCount(): Promise<number | undefined> {
    const info = (await this.docker.info()) as { NCPU?: unknown };
    return typeof info.NCPU === "number" && info.NCPU > 0 ? info.NCPU : undefined;
  }

  async imageExists(name: string): Promise<boolean> {
    return inspectedExists(() => this.docker.getImage(name).inspect(), "engine-unavailable", `image ${name}`);
  }

  /**
   * Makes sure `name` is present locally, pulling it (with progress lines)
   * when missing. @throws EngineError("image-unavailable") naming the image.
   */
  async ensureImage(name: string, onProgress?: (line: string) => void): Promise<void> {
    if (await this.imageExists(name)) return;
    try {
      const stream = (await this.docker.pull(name)) as Readable;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (error: unknown) => (error ? reject(error) : resolve()),
          (event: { status?: string; progress?: string; id?: string }) => {
            if (onProgress && event.status) onProgress([event.id, event.status, event.progress].filter(Boolean).join(" "));
          },
        );
      });
    } catch (error) {
      throw new EngineError(
        "image-unavailable",
        `image "${name}" is not available locally and could not be pulled (${engineMessage(error)}); pull or build it first, or choose a local image`,
        { cause: error, statusCode: statusOf(error) },
      );
    }
  }

  /** Creates a named volume with labels unless it exists. */
  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getVolume(name).inspect();
      return;
    } catch (error) {
      if (statusOf(error) !== 404) throw new EngineError("volume", `could not inspect volume ${name}: ${engineMessage(error)}`, { cause: error });
    }
    try {
      await this.docker.createVolume({ Name: name, Labels: labels });
    } catch (error) {
      throw new EngineError("volume", `could not create volume ${name}: ${engineMessage(error)}`, { cause: error });
    }
  }

  async volumeExists(name: string): Promise<boolean> {
    return inspectedExists(() => this.docker.getVolume(name).inspect(), "volume", `volume ${name}`);
  }

  /** Removes a volume; absent is fine. */
  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove({ force: true });
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw new EngineError("volume", `could not remove volume ${name}: ${engineMessage(error)}`, { cause: error });
    }
  }

  /** Volumes carrying all the given labels. */
  async listVolumes(labels: Record<string, string>): Promise<Array<{ name: string; labels: Record<string, string> }>> {
    const result = await this.docker.listVolumes({ filters: { label: labelFilters(labels) } });
    return (result.Volumes ?? []).map((volume) => ({ name: volume.Name, labels: volume.Labels ?? {} }));
  }

  /**
   * Creates and starts a container. Safe defaults: Docker's init as PID 1
   * (reaps killed processes), no new privileges, {@link DEFAULT_CAP_DROP}
   * dropped, a PID limit, no host mounts,
   * stdin closed, auto-removal when it stops.
   */
  async createContainer(spec: ContainerSpec): Promise<EngineContainer> {
    const lifetimeSeconds = Math.max(1, Math.ceil((spec.lifetimeMs ?? 300_000) / 1000));
    const hostConfig: Docker.HostConfig = {
      Init: true,
      AutoRemove: spec.autoRemove ?? true,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: [...DEFAULT_CAP_DROP],
      PidsLimit: spec.pidsLimit ?? DEFAULT_PIDS_LIMIT,
      NetworkMode: spec.blockNetwork ? "none" : (spec.network ?? "bridge"),
      Mounts: (spec.volumes ?? []).map((volume) => ({
        Type: "volume" as const,
        Source: volume.volumeName,
        Target: volume.mountPath,
        ReadOnly: volume.readOnly ?? false,
      })),
    };
    if (spec.cpu !== undefined) hostConfig.NanoCpus = Math.round(spec.cpu * 1e9);
    if (spec.memoryMiB !== undefined) {
      hostConfig.Memory = spec.memoryMiB * 1024 * 1024;
      hostConfig.MemorySwap = hostConfig.Memory;
    }
    if (spec.runtime) hostConfig.Runtime = spec.runtime;
    const exposedPorts: Record<string, Record<string, never>> = {};
    if (spec.ports && spec.ports.length > 0) {
      // Loopback only: a sandbox's server is never reachable from the network.
      hostConfig.PortBindings = Object.fromEntries(spec.ports.map((port) => [`${port}/tcp`, [{ HostIp: "127.0.0.1", HostPort: "" }]]));
      for (const port of spec.ports) exposedPorts[`${port}/tcp`] = {};
    }
    if (spec.gpu) {
      hostConfig.DeviceRequests = [{ Driver: "", Count: spec.gpu.count, Capabilities: [["gpu"]], DeviceIDs: undefined as unknown as string[], Options: {} }];
    }
    const create = () =>
      this.docker.createContainer({
        Image: spec.image,
        name: spec.name,
        Labels: spec.labels,
        Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
        WorkingDir: spec.workdir,
        ...(spec.user !== undefined ? { User: spec.user } : {}),
        Entrypoint: ["sleep"],
        Cmd: [String(lifetimeSeconds)],
        ExposedPorts: exposedPorts,
        Tty: false,
        OpenStdin: false,
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        HostConfig: hostConfig,
      });
    const createAndStart = async (): Promise<Docker.Container> => {
      const container = await create();
      try {
        await container.start();
      } catch (error) {
        await container.remove({ force: true }).catch(() => undefined);
        throw error;
      }
      return container;
    };
    let container: Docker.Container;
    try {
      try {
        container = await createAndStart();
      } catch (error) {
        // The managed network vanished after it was ensured: another process removed it as
        // unused (before our create, or between our create and start: a created container
        // holds no endpoint yet), or a stale one from an earlier run was cleaned up. Make it
        // again and retry, once; a second failure is reported as it is.
        const kind = managedNetworkKind(spec);
        if (kind === undefined || !networkNotFound(error)) throw error;
        await ensureSandboxNetwork(this.docker, kind);
        container = await createAndStart();
      }
    } catch (error) {
      if (error instanceof EngineError) throw error;
      throw classifyCreateError(error, spec);
    }
    return new EngineContainer(this, container.id, spec.image);
  }

  /** A handle on an existing container (no request is made). */
  container(id: string): EngineContainer {
    return new EngineContainer(this, id);
  }

  /**
   * Removes kill sidecars that are no longer killing anything: those not
   * running and created at least `minAgeMs` ago (a younger one may be about
   * to start). Each sidecar removes itself when its kill ends; one is left
   * only when its process died or the engine restarted mid-kill.
   * @returns the ids removed.
   */
  async removeIdleKillSidecars(minAgeMs = 60_000): Promise<string[]> {
    const sidecars = await this.docker.listContainers({ all: true, filters: { label: [SIDECAR_LABEL] } });
    const idle = sidecars.filter((sidecar) => sidecar.State !== "running" && Date.now() - sidecar.Created * 1000 >= minAgeMs);
    await Promise.all(idle.map((sidecar) => this.docker.getContainer(sidecar.Id).remove({ force: true }).catch(noop)));
    return idle.map((sidecar) => sidecar.Id);
  }

  /** Containers (running or not) carrying all the given labels. */
  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: labelFilters(labels) } });
    return containers.map((container) => ({
      id: container.Id,
      name: (container.Names?.[0] ?? "").replace(/^\//, ""),
      state: container.State,
      labels: container.Labels ?? {},
    }));
  }
}

function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

/** The kind of the managed network `spec` joins, or `undefined` for no network, Docker's bridge or a caller's network. */
function managedNetworkKind(spec: ContainerSpec): SandboxNetworkKind | undefined {
  if (spec.blockNetwork) return undefined;
  return (Object.keys(SANDBOX_NETWORKS) as SandboxNetworkKind[]).find((kind) => SANDBOX_NETWORKS[kind].name === spec.network);
}

/** The engine's answer when a container's network is gone: 404 "network <name or id> not found". */
function networkNotFound(error: unknown): boolean {
  return statusOf(error) === 404 && /network/i.test(engineMessage(error));
}

function classifyCreateError(error: unknown, spec: ContainerSpec): EngineError {
  const status = statusOf(error);
  // Engine paths of the container's root say nothing to the caller.
  const message = engineMessage(error).replace(/\/var\/lib\/docker\/[^\s]*?\/merged(?=\/)/g, "");
  const volumeTarget = (spec.volumes ?? []).find((volume) => message.includes(volume.mountPath));
  if (volumeTarget) {
    return new EngineError("volume", `could not mount volume "${volumeTarget.volumeName}" at ${volumeTarget.mountPath}: ${message}`, {
      cause: error,
      statusCode: status,
    });
  }
  if (status === 404 && /image/i.test(message)) {
    return new EngineError("image-unavailable", `image "${spec.image}" is not available locally: ${message}`, { cause: error, statusCode: status });
  }
  if (status === 404 && /volume/i.test(message)) return new EngineError("volume", message, { cause: error, statusCode: status });
  if (status === 409) return new EngineError("conflict", message, { cause: error, statusCode: status });
  if (/gpu|device driver|nvidia/i.test(message)) {
    return new EngineError("gpu-unavailable", `the Docker engine cannot attach GPUs: ${message}`, { cause: error, statusCode: status });
  }
  if (/memory|cpu|nanocpus|pids/i.test(message)) return new EngineError("resource-limit", message, { cause: error, statusCode: status });
  if (/volume|mount/i.test(message)) return new EngineError("volume", message, { cause: error, statusCode: status });
  return new EngineError("unknown", message, { cause: error, statusCode: status });
}

/** Whether `inspect` finds the object (a 404 is false); any other failure is an `EngineError` of `kind` naming `what`. */
async function inspectedExists(inspect: () => Promise<unknown>, kind: EngineErrorKind, what: string): Promise<boolean> {
  try {
    await inspect();
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw new EngineError(kind, `could not inspect ${what}: ${engineMessage(error)}`, { cause: error });
  }
}

/** A container, addressed by id. */
export class EngineContainer {
  /**
   * @param knownImage The image the container was created from, when the
   * caller knows it (the handle {@link DockerEngine.createContainer} returns):
   * a kill sidecar needs it, and an inspect of a container that a fork bomb
   * starves can take the engine seconds to answer.
   */
  constructor(
    private readonly engine: DockerEngine,
    readonly id: string,
    private readonly knownImage?: string,
  ) {}

  /** The dockerode container: an escape hatch. */
  get raw(): Docker.Container {
    return this.engine.docker.getContainer(this.id);
  }

  /** @throws EngineError("not-found") when the container is gone. */
  async inspect(): Promise<Docker.ContainerInspectInfo> {
    try {
      return await this.raw.inspect();
    } catch (error) {
      if (statusOf(error) === 404) throw new EngineError("not-found", `container ${this.id} not found`, { cause: error, statusCode: 404 });
      throw new EngineError("engine-unavailable", engineMessage(error), { cause: error, statusCode: statusOf(error) });
    }
  }

  /** False when the container is stopped or gone. */
  async isRunning(): Promise<boolean> {
    try {
      const info = await this.raw.inspect();
      return info.State.Running === true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw new EngineError("engine-unavailable", engineMessage(error), { cause: error, statusCode: statusOf(error) });
    }
  }

  /**
   * Starts `argv` (no shell is added) with stdout and stderr demultiplexed in
   * arrival order. Every process of the exec inherits a marker variable so
   * {@link EngineExec.kill} can find the whole tree later.
   */
  async exec(argv: string[], options: EngineExecOptions = {}): Promise<EngineExec> {
    if (isKillScript(argv)) return this.killScriptExec(argv.slice(3));
    const marker = randomUUID();
    const env = Object.entries({ ...(options.env ?? {}), [EXEC_MARKER_VARIABLE]: marker }).map(([key, value]) => `${key}=${value}`);
    let stream: Duplex;
    let exec: Docker.Exec;
    try {
      exec = await this.raw.exec({
        Cmd: argv,
        Env: env,
        WorkingDir: options.cwd,
        User: options.user,
        AttachStdin: options.stdin === true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      stream = (await exec.start({ hijack: true, stdin: options.stdin === true })) as Duplex;
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) throw new EngineError("not-found", `container ${this.id} not found`, { cause: error, statusCode: 404 });
      if (status === 409) throw new EngineError("not-found", `container ${this.id} is not running: ${engineMessage(error)}`, { cause: error, statusCode: 409 });
      // A container that stops between the exec's create and start: the engine answers 500 "container not running".
      if (status === 500 && /container not running|is not running/i.test(engineMessage(error))) {
        throw new EngineError("not-found", `container ${this.id} is not running: ${engineMessage(error)}`, { cause: error, statusCode: 500 });
      }
      if (engineUnreachable(error)) {
        throw new EngineError(
          "engine-unavailable",
          `no Docker engine answers (${engineMessage(error)}); start one (for example: bash scripts/start-docker-engine.sh) or set DOCKER_HOST`,
          {
            cause: error,
          },
        );
      }
      throw new EngineError("exec-failed", `could not start exec: ${engineMessage(error)}`, { cause: error, statusCode: status });
    }
    const demuxer = new DockerStreamDemuxer(options.onStdout ?? noop, options.onStderr ?? noop);
    let killed = false;
    const done = new Promise<{ exitCode: number | null; killed: boolean }>((resolve, reject) => {
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        exitCodeOf(exec).then(
          (exitCode) => resolve({ exitCode: killed ? null : exitCode, killed }),
          (error: unknown) => (killed ? resolve({ exitCode: null, killed }) : reject(error)),
        );
      };
      stream.on("data", (chunk: Buffer) => demuxer.push(chunk));
      stream.on("end", finish);
      stream.on("close", finish);
      stream.on("error", (error) => {
        if (settled) return;
        if (killed) return finish();
        settled = true;
        reject(new EngineError("exec-failed", `exec stream failed: ${error.message}`, { cause: error }));
      });
    });
    // Callers that only use kill() should not see an unhandled rejection.
    done.catch(noop);
    const container = this;
    let killing: Promise<void> | undefined;
    return {
      id: exec.id,
      stdin: options.stdin === true ? stream : null,
      stream,
      done,
      kill(options = {}) {
        // One kill per exec, however many callers ask for it.
        killing ??= (async () => {
          killed = true;
          await container.killMarked(marker, options.processGroup);
          await done.catch(noop);
        })();
        return killing;
      },
    };
  }

  /**
   * Kills every process carrying the exec marker (and the process group, when
   * given); throws when some survive. A fork bomb at the PID limit starves an
   * exec inside the container (it shares the container's CPU with hundreds of
   * spinning processes, and may find no free pid), so when the in-container
   * killer has not finished within {@link KILLER_SIDECAR_AFTER_MS}, the same
   * script also runs in a short-lived sidecar container that joins this
   * container's PID namespace from its own cgroup. The first to succeed wins.
   */
  private async killMarked(marker: string, processGroup?: number): Promise<void> {
    const args = [KILL_BY_MARKER_SCRIPT, "sandbox-kill", `${EXEC_MARKER_VARIABLE}=${marker}`];
    if (processGroup !== undefined) args.push(String(processGroup));
    return this.killWith(args);
  }

  /**
   * An exec of core's `KILL_BY_MARKER_SCRIPT` asked for by a client (the
   * Modal adapter kills a command's tree with such an exec, through the
   * emulator) runs with the same strategy as {@link EngineExec.kill}: in the
   * container, and from a sidecar sharing its PID namespace when a fork bomb
   * at the PID limit starves the in-container exec. Same script, same
   * effect; only where it runs differs. Exit code 0 when nothing marked is
   * left, 1 otherwise; no output.
   */
  private killScriptExec(scriptArgs: string[]): EngineExec {
    const stream = new PassThrough();
    stream.end();
    const done = this.killWith([KILL_BY_MARKER_SCRIPT, ...scriptArgs]).then(
      () => ({ exitCode: 0, killed: false }),
      () => ({ exitCode: 1, killed: false }),
    );
    return { id: `kill-script-${randomUUID()}`, stdin: null, stream, done, kill: () => done.then(noop) };
  }

  private async killWith(args: string[]): Promise<void> {
    const marker = args[2] ?? "";
    const deadline = Date.now() + KILLER_RETRY_MS;
    // The sidecar needs the container's image: known when this handle created the container, else asked for
    // at once, in parallel (while a fork bomb starves the container, the engine answers an inspect of it only
    // after seconds: measured 7 s), never delaying the killer inside.
    const image =
      this.knownImage !== undefined
        ? Promise.resolve(this.knownImage)
        : this.raw.inspect().then(
            (info) => info.Image as string | undefined,
            () => undefined,
          );
    let done = false;
    let insideFailed: () => void = noop;
    const insideFailedOnce = new Promise<void>((resolve) => {
      insideFailed = resolve;
    });
    const survived = () => new EngineError("exec-failed", `processes of exec ${marker} survived kill -9`);
    const inside = (async () => {
      for (let attempt = 0; !done; attempt += 1) {
        let exitCode: number | null = null;
        try {
          exitCode = await this.runKiller(["sh", "-c", ...args], deadline);
        } catch (error) {
          if (statusOf(error) === 404 || Date.now() > deadline) throw error;
        }
        if (exitCode === 0) return;
        // A killer that could not start or run (no free pid) calls the sidecar in now.
        insideFailed();
        if (Date.now() > deadline) throw survived();
        await new Promise((resolve) => setTimeout(resolve, Math.min(200, 20 * (attempt + 1))));
      }
    })();
    // The sidecar is tried again (until the deadline) when it could not start or left survivors.
    const sidecar = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([insideFailedOnce, new Promise((resolve) => (timer = setTimeout(resolve, KILLER_SIDECAR_AFTER_MS).unref()))]);
      clearTimeout(timer);
      let failure: unknown = survived();
      for (let attempt = 0; attempt < KILLER_SIDECAR_ATTEMPTS && !done && Date.now() < deadline; attempt += 1) {
        try {
          const known = await image;
          if (known === undefined) throw new EngineError("exec-failed", `could not read the image of container ${this.id} for a kill sidecar`);
          if ((await this.killFromSidecar(args, known, () => done)) === 0) return;
          failure = survived();
        } catch (error) {
          if (statusOf(error) === 404) throw error;
          failure = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 200).unref());
      }
      throw failure;
    })();
    // Whatever the engine does (an inspect or a sidecar stuck on a starved engine), the kill settles by its deadline.
    let overdue: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      overdue = setTimeout(() => reject(survived()), Math.max(0, deadline - Date.now()) + 500);
    });
    try {
      await Promise.race([Promise.any([inside, sidecar]), late]);
    } catch (error) {
      const first = error instanceof AggregateError ? error.errors[0] : error;
      throw first instanceof EngineError ? first : new EngineError("exec-failed", `could not kill exec ${marker}: ${engineMessage(first)}`, { cause: first });
    } finally {
      done = true;
      clearTimeout(overdue);
      late.catch(noop);
      inside.catch(noop);
      sidecar.catch(noop);
      // A sidecar still running is removed in the background: the kill is confirmed without waiting for
      // the engine to start, run and remove it (seconds on a loaded engine); removing this container waits.
    }
  }

  /**
   * Runs a killer exec in the container and returns its exit code, or null
   * when it has not ended by `deadline` (a starved container can hold an
   * exec's start for as long as it stays starved; it is left to end alone).
   */
  private async runKiller(argv: string[], deadline: number): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()));
    });
    const run = (async () => {
      const killer = await this.raw.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
      const stream = (await killer.start({ hijack: true, stdin: false })) as Duplex;
      await new Promise<void>((resolve) => {
        stream.on("end", resolve);
        stream.on("close", resolve);
        stream.on("error", () => resolve());
        stream.resume();
      });
      return exitCodeOf(killer);
    })();
    run.catch(noop);
    try {
      return await Promise.race([run, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the kill script in a throwaway container of the same image that
   * shares this container's PID namespace (so it sees and may signal the
   * same processes) but has its own cgroup, hence its own pids and CPU share.
   * The sidecar is removed once it ends, whoever waits; {@link remove} waits for that.
   */
  private killFromSidecar(args: string[], image: string | undefined, stop: () => boolean): Promise<number | null> {
    let exited: (code: number | null) => void = noop;
    let failed: (error: unknown) => void = noop;
    const result = new Promise<number | null>((resolve, reject) => {
      exited = resolve;
      failed = reject;
    });
    this.engine.trackSidecarRemoval(this.id, this.#runSidecar(args, image, stop, exited).then(noop, failed));
    return result;
  }

  async #runSidecar(args: string[], knownImage: string | undefined, stop: () => boolean, exited: (code: number | null) => void): Promise<void> {
    const image = knownImage ?? (await this.raw.inspect()).Image;
    if (stop()) return exited(null);
    const sidecar = await this.engine.docker.createContainer({
      Image: image,
      Entrypoint: ["sh", "-c"],
      Cmd: args,
      Labels: { [SIDECAR_LABEL]: this.id, "dev.sandbox.managed": "true" },
      HostConfig: { PidMode: `container:${this.id}`, NetworkMode: "none", AutoRemove: false, PidsLimit: 32, SecurityOpt: ["no-new-privileges"] },
    });
    try {
      if (stop()) return exited(null);
      await sidecar.start();
      const result = (await sidecar.wait()) as { StatusCode?: number };
      exited(typeof result.StatusCode === "number" ? result.StatusCode : null);
    } finally {
      await sidecar.remove({ force: true }).catch(noop);
    }
  }

  /** Extracts a tar archive into `destinationDir` (which must exist). */
  async putArchive(tar: NodeJS.ReadableStream | Buffer, destinationDir: string): Promise<void> {
    try {
      await this.raw.putArchive(tar as NodeJS.ReadableStream, { path: destinationDir });
    } catch (error) {
      throw archiveError(error, destinationDir, this.id);
    }
  }

  /** A tar stream of `path`. @throws EngineError("not-found") (statusCode 404) when it does not exist. */
  async getArchive(path: string): Promise<NodeJS.ReadableStream> {
    try {
      return await this.raw.getArchive({ path });
    } catch (error) {
      throw archiveError(error, path, this.id);
    }
  }

  /**
   * Stat of `path` through the archive API (no shell needed), or null when
   * it does not exist.
   */
  async stat(path: string): Promise<{ name: string; size: number; mode: number; isDirectory: boolean; linkTarget: string } | null> {
    try {
      const response = (await this.raw.infoArchive({ path })) as { headers?: Record<string, string | string[] | undefined>; resume?: () => void };
      response.resume?.();
      const header = response.headers?.["x-docker-container-path-stat"];
      if (typeof header !== "string") throw new EngineError("unknown", `${path}: the engine sent no path stat`);
      const info = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as { name: string; size: number; mode: number; linkTarget: string };
      // Go's os.FileMode: the directory bit is 1 << 31 (unsigned).
      return { ...info, isDirectory: info.mode >>> 31 === 1 };
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw archiveError(error, path, this.id);
    }
  }

  /** Stops the container at once; it is removed if created with auto-removal. Gone is fine. */
  async stop(): Promise<void> {
    try {
      await this.raw.kill();
    } catch (error) {
      const status = statusOf(error);
      if (status === 404 || status === 409) return;
      throw new EngineError("unknown", engineMessage(error), { cause: error, statusCode: status });
    }
  }

  /** Kills and removes the container. Gone is fine. */
  async remove(): Promise<void> {
    try {
      await this.raw.remove({ force: true, v: false });
    } catch (error) {
      const status = statusOf(error);
      // 409: removal already in progress (auto-remove).
      if (status !== 404 && status !== 409) throw new EngineError("unknown", engineMessage(error), { cause: error, statusCode: status });
    }
    // A kill sidecar in this container's PID namespace ends with it; nothing of the sandbox is left once it is removed too.
    await this.engine.sidecarsRemoved(this.id);
  }
}

function archiveError(error: unknown, path: string, containerId: string): EngineError {
  const status = statusOf(error);
  const message = engineMessage(error);
  if (status === 404) {
    // dockerode words every 404 of the archive endpoints "no such container"; the engine's own text says which it was.
    if (/no such container/i.test(message) && !/could not find the file/i.test(message)) {
      return new EngineError("not-found", `container ${containerId} not found`, { cause: error, statusCode: 404 });
    }
    return new EngineError("not-found", `${path}: no such file or directory`, { cause: error, statusCode: 404 });
  }
  if (status === 409) return new EngineError("not-found", `container ${containerId} is not running`, { cause: error, statusCode: 409 });
  return new EngineError("unknown", `${path}: ${message}`, { cause: error, statusCode: status });
}

/** `["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", "NAME=value", pgid?]`, as core's adapters run it. */
function isKillScript(argv: string[]): boolean {
  return (
    argv.length >= 5 &&
    argv.length <= 6 &&
    argv[0] === "sh" &&
    argv[1] === "-c" &&
    argv[2] === KILL_BY_MARKER_SCRIPT &&
    argv[3] === "sandbox-kill" &&
    /^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9-]+$/.test(argv[4] ?? "") &&
    (argv[5] === undefined || /^[0-9]+$/.test(argv[5]))
  );
}

async function exitCodeOf(exec: Docker.Exec): Promise<number | null> {
  // The stream can end a moment before the engine records the exit code.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const info = await exec.inspect();
    if (!info.Running) return typeof info.ExitCode === "number" ? info.ExitCode : null;
    await new Promise((resolve) => setTimeout(resolve, attempt < 5 ? 2 : 20));
  }
  return null;
}

function noop(): void {}
