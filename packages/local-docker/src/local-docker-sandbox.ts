import { randomUUID } from "node:crypto";
import { posix } from "node:path";
import {
  allCapabilities,
  type CommandOutcome,
  type CommandRequest,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_IMAGE_NAME,
  DEFAULT_MAX_DOWNLOAD_BYTES,
  DEFAULT_PROCESS_RETAINED_BYTES,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  EXEC_MARKER_VARIABLE,
  type FileForRead,
  initialized,
  KILL_BY_MARKER_SCRIPT,
  OOM_BASELINE_PREFIX,
  OomBaselineReader,
  oomKilledDuring,
  parseGpu,
  parseOomKillCount,
  READ_OOM_KILL_COUNT_COMMAND,
  type ResolvedSandboxClaim,
  SandboxAdapter,
  type SandboxCapabilities,
  SandboxError,
  type SandboxErrorCode,
  type SandboxErrorOptions,
  type SandboxOptions,
  type ScriptProcesses,
  SEGMENT_BYTES,
  shellArgvIn,
} from "@sandbox/core";
import {
  currentOwnerLabels,
  DockerEngine,
  type EngineContainer,
  EngineError,
  fileOperationCodeOf,
  hostFirewallUnsupportedReason,
  isOnPseudoFilesystem,
  isSandboxNetwork,
  LABELS,
  readContainerFiles,
  removeSandboxNetworkIfUnused,
  SANDBOX_NETWORKS,
  writeContainerFiles,
} from "@sandbox/docker-engine";
import type { FileDownloadResponse, FileUploadResponse } from "deepagents";
import type Docker from "dockerode";
import tar from "tar-stream";
import { AgentChannel, type AgentFileAnswer, type AgentFileProblem, AgentStartFailure, type GrepKind } from "./agent-channel.js";
import { fromEngineError, LOCAL_DOCKER_PROVIDER, LocalDockerSandboxError } from "./local-docker-error.js";
import { startPtyProcess } from "./pty-process.js";
import { DETACHED_MARKER_PATH, reapOnce } from "./reaper.js";
import { portUrls } from "./sandbox-ports.js";
import { dockerProcessScripts, type ProcessHost } from "./sandbox-processes.js";
import { defaultSecretsFile, resolveSecrets } from "./secret-store.js";

/**
 * Largest file read or written through the command agent in one message;
 * larger ones are written through the archive API and read as a stream
 * from the agent (see `readThroughAgent`).
 */
const AGENT_FILE_MAX_BYTES = 1024 * 1024;

/** Whether the agent may take `path`: not on a pseudo-filesystem (read and written by a process there, bounded in time), no NUL. */
function fitsAgent(path: string): boolean {
  return !path.includes("\0") && !isOnPseudoFilesystem(path);
}

/**
 * A read through the command agent: in one message up to 1 MiB; a larger
 * file (up to `maxBytes`) streamed by the agent, which is faster than the
 * archive API (no archive, no per-call engine work) and holds no copy of it.
 */
async function readThroughAgent(agent: AgentChannel, path: string, maxBytes: number): Promise<AgentFileAnswer> {
  const answer = await agent.readFile(path, Math.min(AGENT_FILE_MAX_BYTES, maxBytes));
  if (answer !== undefined || !agent.streams || maxBytes <= AGENT_FILE_MAX_BYTES) return answer;
  return agent.streamFile(path, maxBytes);
}

/** The path as the archive path resolves it: `..` and `.` taken lexically (before symlinks), no trailing slash. */
function agentPath(path: string): string {
  return posix.normalize(path).replace(/(.)\/+$/, "$1");
}

/** Fills each undefined slot of `answers`, in order, with the next of `rest` (what the archive path answered for them). */
function fillGaps<T>(answers: Array<T | undefined>, rest: T[]): void {
  let next = 0;
  for (let index = 0; index < answers.length; index += 1) answers[index] ??= rest[next++];
}

/** How long a command's 137 waits to see whether the whole sandbox went (see `endedAfterKill`). */
const KILL_SETTLE_MS = 500;

/**
 * How long a command that could not start waits to see whether the sandbox
 * went (see `endedAfterKill`): longer than after a 137, since a live
 * container's exec almost never fails to start, while a loaded engine takes
 * seconds to report a killed container stopped.
 */
const START_FAILURE_SETTLE_MS = 3_000;

/** See {@link LocalDockerSandbox.tools}. */
interface SandboxTools {
  grep: GrepKind | undefined;
  awk: "bytes" | "gawk" | undefined;
}

/**
 * The tools deepagents' file tool commands run, as the command agent must
 * answer for them: which `grep` and `find` the image has (the first two lines
 * each prints for `--version`: GNU's name themselves, BusyBox's say
 * BusyBox); how many bytes `grep -F` prints for a line with a byte over 0x7f
 * (3 where it reads every byte as text, as GNU's in the C locale; 0 where it
 * takes the line for binary); and which `awk` (`-W version`: mawk and GNU
 * awk name themselves, BusyBox's says BusyBox; nothing: none).
 */
const TOOLS_COMMAND =
  "for tool in grep find; do $tool --version 2>&1 | head -n 2 | tr '\\n' ' '; echo; done; printf 'x\\351\\n' | grep -F x 2>/dev/null | wc -c; awk -W version 2>&1 </dev/null | head -n 2 | tr '\\n' ' '";

/** Options of {@link LocalDockerSandbox}: the common options plus Docker-specific ones. */
export interface LocalDockerSandboxOptions extends SandboxOptions {
  /** App the sandbox belongs to; names are unique per app. Default `"sandbox"`. */
  appName?: string;
  /** A dockerode client to use (e.g. for a remote engine). Default: from `DOCKER_HOST` or the local socket. */
  docker?: Docker;
  /**
   * OCI runtime, e.g. `"runsc"` (gVisor), passed to the engine. Must be one
   * the engine lists (`docker info`): otherwise creation fails with
   * `UNSUPPORTED_CAPABILITY` naming it, before anything is created.
   * Default: the engine's default runtime.
   */
  runtime?: string;
  /**
   * User the sandbox's processes run as: a name the image knows or a numeric
   * `uid`, optionally with `:group` (e.g. `"1000:1000"`). Default: the
   * image's user (usually root). A name the image does not know fails
   * creation with `INVALID_OPTIONS`. A `workdir` the image lacks (and the
   * parents made for it) belongs to this user; one the image has, or a
   * volume's mount point, keeps its owner.
   */
  user?: string;
  /**
   * Docker network to join instead of the default `sandbox-isolated`
   * network (a bridge on which sandboxes cannot reach each other). Name a
   * network you created to let sandboxes talk to each other (or `"bridge"`
   * for Docker's default bridge). Not with `blockNetwork` or `blockHostNetwork`.
   */
  network?: string;
  /**
   * Cut the sandbox off from the host: nothing listening on the Docker host
   * (on any of its addresses, the bridge gateway included) is reachable from
   * the sandbox, while the internet stays reachable. The sandbox joins the
   * `sandbox-isolated-nohost` network, whose bridge gets a host firewall rule
   * rejecting new connections from it (published `ports` still work: they
   * are connections from the host). Needs this process to run as root on the
   * engine's machine with `iptables`; otherwise creation fails with
   * `UNSUPPORTED_CAPABILITY` saying why. Default false.
   */
  blockHostNetwork?: boolean;
  /** Maximum number of processes and threads in the sandbox. Default 128 (`DEFAULT_PIDS_LIMIT`). */
  pidsLimit?: number;
  /** Default per-command timeout in ms. Default `DEFAULT_COMMAND_TIMEOUT_MS` (5 min). */
  commandTimeoutMs?: number;
  /** Default output cap per command in bytes. Default `DEFAULT_MAX_OUTPUT_BYTES` (1 MiB). */
  maxOutputBytes?: number;
  /**
   * Largest file `downloadFiles` (and deepagents' `read`) returns, in bytes.
   * A larger file, a device or an endless stream comes back as a per-file
   * `invalid_path`; host memory per read stays under this cap. Default
   * `DEFAULT_MAX_DOWNLOAD_BYTES` (256 MiB).
   */
  maxDownloadBytes?: number;
  /** JSON secret store for `secrets`. Default `SANDBOX_SECRETS_FILE` or `~/.config/sandbox/secrets.json`. */
  secretsFile?: string;
  /** Receives image pull progress lines when the image must be pulled. */
  onPullProgress?: (line: string) => void;
  /** Reap expired and orphaned sandboxes before creating (cheap; once per process). Default true. */
  reapOnStart?: boolean;
  /**
   * Output of a `spawn`ed process kept in the sandbox for replay, per stream,
   * in bytes (at least 1 MiB). Default `DEFAULT_PROCESS_RETAINED_BYTES` (16 MiB).
   */
  processRetainedBytes?: number;
  /**
   * How `execute` reaches the sandbox. `"agent"` (default): a small static
   * program copied into the sandbox at create and started once, reached over
   * one open connection, so a command costs one message each way instead of
   * a `docker exec`; where it cannot run (not built, another CPU
   * architecture) or after it died, commands go through `docker exec`
   * transparently. `"exec"`: one `docker exec` per command. Both give the
   * same results, errors, streaming, timeouts and kills.
   */
  commandChannel?: "agent" | "exec";
}

/** The values of {@link LocalDockerSandboxOptions.commandChannel}. */
const COMMAND_CHANNELS = ["agent", "exec"] as const;

const EXTRA_OPTION_KEYS = [
  "appName",
  "docker",
  "runtime",
  "user",
  "network",
  "blockHostNetwork",
  "pidsLimit",
  "commandTimeoutMs",
  "maxOutputBytes",
  "maxDownloadBytes",
  "secretsFile",
  "onPullProgress",
  "reapOnStart",
  "processRetainedBytes",
  "commandChannel",
] as const;

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The smallest CPU share the Docker engine accepts (`NanoCpus` of 10^7). */
const MIN_CPU = 0.01;

/**
 * What this adapter supports. `gpu` means GPU requests are passed to the
 * engine as device requests; on an engine without a GPU runtime, creating
 * with `gpu` fails with `UNSUPPORTED_CAPABILITY` saying so. Ports are
 * published at create time only (Docker cannot add a binding to a running
 * container), so `portsAtRuntime` is false. PTY processes are not
 * reattachable (the terminal lives in the spawning handle's connection).
 */
export const LOCAL_DOCKER_CAPABILITIES: SandboxCapabilities = Object.freeze({ ...allCapabilities(true), portsAtRuntime: false });

/**
 * A sandbox in a container of a real local Docker engine, through the Engine
 * API. A deepagents backend: `createDeepAgent({ backend: sandbox })`.
 *
 * @example
 * ```ts
 * const sandbox = await LocalDockerSandbox.create({ imageName: "python:3.12-slim" });
 * try {
 *   const result = await sandbox.execute("python --version");
 * } finally {
 *   await sandbox.close();
 * }
 * ```
 */
export class LocalDockerSandbox extends SandboxAdapter<LocalDockerSandboxOptions> {
  readonly #engine: DockerEngine;
  #container: EngineContainer | undefined;
  /** Set by a warm-pool claim: env and workdir every command gets unless it says otherwise. */
  #claimed: { env: Record<string, string>; workdir: string | undefined } | undefined;
  /** The agent of the fast command channel, while it starts or runs (see `commandChannel`). */
  #agent: Promise<AgentChannel | undefined> | undefined;
  /** False in exec mode and once the handle was released. */
  #agentWanted: boolean;
  /** Which `find` the image has (whether it knows `-printf`), once asked. */
  #find: Promise<"gnu" | "busybox" | undefined> | undefined;
  /** See {@link newFileOwner}. */
  #newFileOwner: Promise<{ uid: number; gid: number } | undefined> | undefined;
  /** See {@link userIds}. */
  #userIds: Promise<{ uid: number; gid: number }> | undefined;
  /** The tools the file tools' commands run here (see `TOOLS_COMMAND`), once asked. */
  #tools: Promise<SandboxTools | undefined> | undefined;

  /** Validates options (throws `INVALID_OPTIONS` at once); call `initialize()` to create. */
  constructor(options: LocalDockerSandboxOptions = {}) {
    super(options, {
      provider: LOCAL_DOCKER_PROVIDER,
      capabilities: LOCAL_DOCKER_CAPABILITIES,
      extraOptionKeys: EXTRA_OPTION_KEYS,
      commandTimeoutMs: options?.commandTimeoutMs,
      maxOutputBytes: options?.maxOutputBytes,
    });
    validateDockerOptions(this.options);
    this.#agentWanted = (this.options.commandChannel ?? "agent") === "agent";
    this.#engine = new DockerEngine({ docker: this.options.docker });
  }

  /** Creates and initializes a sandbox. */
  static async create(options: LocalDockerSandboxOptions = {}): Promise<LocalDockerSandbox> {
    return initialized(new LocalDockerSandbox(options));
  }

  /**
   * A live handle on an existing sandbox, e.g. from another process.
   * @throws `SANDBOX_NOT_FOUND` when no running sandbox has this id.
   */
  static async fromId(
    id: string,
    options: Pick<LocalDockerSandboxOptions, "docker" | "commandTimeoutMs" | "maxOutputBytes" | "maxDownloadBytes" | "commandChannel"> = {},
  ): Promise<LocalDockerSandbox> {
    if (typeof id !== "string" || !/^[A-Za-z0-9_.-]+$/.test(id)) {
      throw new LocalDockerSandboxError("SANDBOX_NOT_FOUND", { message: `no sandbox with id "${String(id)}"` });
    }
    const sandbox = new LocalDockerSandbox(options);
    await sandbox.adopt(async () => {
      const container = sandbox.#engine.container(id);
      const info = await container.inspect().catch((error: unknown) => {
        throw fromEngineError(error, "SANDBOX_NOT_FOUND", `no sandbox with id "${id}"`);
      });
      if (info.Config.Labels?.[LABELS.provider] !== LOCAL_DOCKER_PROVIDER || !info.State.Running) {
        throw new LocalDockerSandboxError("SANDBOX_NOT_FOUND", { message: `no running sandbox with id "${id}"` });
      }
      // The engine also finds a container by a prefix of its id or by its name; the handle's id is always the full one.
      return info.Id === id ? container : sandbox.#engine.container(info.Id);
    });
    return sandbox;
  }

  /**
   * A live handle on the running sandbox named `name` in app `appName`.
   * @throws `SANDBOX_NOT_FOUND` when there is none.
   */
  static async fromName(
    appName: string,
    name: string,
    options: Pick<LocalDockerSandboxOptions, "docker" | "commandTimeoutMs" | "maxOutputBytes" | "maxDownloadBytes" | "commandChannel"> = {},
  ): Promise<LocalDockerSandbox> {
    const sandbox = new LocalDockerSandbox(options);
    await sandbox.adopt(async () => {
      const found = await sandbox.#engine
        .listContainers({ [LABELS.provider]: LOCAL_DOCKER_PROVIDER, [LABELS.app]: String(appName), [LABELS.name]: String(name) })
        .catch((error: unknown) => {
          throw fromEngineError(error, "SANDBOX_NOT_FOUND", "could not list sandboxes");
        });
      const running = found.find((container) => container.state === "running");
      if (!running) throw new LocalDockerSandboxError("SANDBOX_NOT_FOUND", { message: `no running sandbox named "${name}" in app "${appName}"` });
      return sandbox.#engine.container(running.id);
    });
    return sandbox;
  }

  /** The dockerode client: escape hatch for anything this adapter does not expose. */
  get docker(): Docker {
    return this.#engine.docker;
  }

  /** The engine layer shared with the Modal emulator. */
  get engine(): DockerEngine {
    return this.#engine;
  }

  /** The dockerode container. @throws `NOT_INITIALIZED` before initialization. */
  get container(): Docker.Container {
    this.assertReady();
    return this.#container!.raw;
  }

  private async adopt(find: () => Promise<EngineContainer>): Promise<void> {
    await this.start(async () => {
      this.#container = await find();
      return this.#container.id;
    });
  }

  /**
   * Starts the command agent in the background, once: when the first command
   * or file transfer has finished (a create followed by one call never pays
   * for it, nor waits for it) or when {@link commandChannelReady} asks.
   * Commands issued before it is up go through `docker exec`, file transfers
   * through the archive API.
   */
  private startAgent(): Promise<AgentChannel | undefined> | undefined {
    if (this.#agent === undefined && this.#agentWanted && this.#container) {
      this.#agent = AgentChannel.start(this.#container).catch(() => undefined);
    }
    return this.#agent;
  }

  /**
   * Resolves once the command channel settled: `"agent"` when commands go
   * through the in-sandbox agent, `"exec"` when they use `docker exec`
   * (the option says so, or the agent is not built, cannot run in this
   * image, or died).
   */
  async commandChannelReady(): Promise<"agent" | "exec"> {
    this.assertReady();
    const agent = await this.startAgent();
    return agent?.alive ? "agent" : "exec";
  }

  protected override error(code: SandboxErrorCode, options: SandboxErrorOptions = {}): SandboxError {
    return new LocalDockerSandboxError(code, this.scrub(options));
  }

  protected async provision(): Promise<string> {
    const options = this.options;
    const appName = options.appName ?? "sandbox";
    const imageName = options.imageName ?? DEFAULT_IMAGE_NAME;
    const lifetimeMs = options.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS;
    const env: Record<string, string> = {};
    if (options.secrets && options.secrets.length > 0) {
      const path = options.secretsFile ?? defaultSecretsFile();
      const resolution = resolveSecrets(options.secrets, path);
      if (!resolution.ok) throw this.unresolvedSecrets(resolution.problem);
      for (const value of Object.values(resolution.env)) this.secretValues.add(value);
      Object.assign(env, resolution.env);
    }
    Object.assign(env, options.env ?? {});

    try {
      await this.#engine.ping();
      if (options.reapOnStart !== false) await reapOnce(this.#engine, options.docker);
      if (options.cpu !== undefined) {
        const cores = await this.#engine.cpuCount();
        if (cores !== undefined && options.cpu > cores) {
          throw this.error("INVALID_OPTIONS", {
            message: `invalid option "cpu": ${options.cpu} cores asked for, but this Docker engine has only ${cores}; ask for at most ${cores}`,
            details: { option: "cpu", cpu: options.cpu, engineCpus: cores },
          });
        }
      }
      if (options.gpu !== undefined && !(await this.#engine.hasGpuRuntime())) {
        throw this.error("UNSUPPORTED_CAPABILITY", {
          message: `provider "${LOCAL_DOCKER_PROVIDER}" cannot honour the "gpu" option: this Docker engine has no GPU runtime (install the NVIDIA container toolkit)`,
          details: { option: "gpu", capability: "gpu" },
        });
      }
      if (options.runtime !== undefined) {
        const runtimes = await this.#engine.runtimes();
        if (!runtimes.includes(options.runtime)) {
          throw this.error("UNSUPPORTED_CAPABILITY", {
            message: `provider "${LOCAL_DOCKER_PROVIDER}" cannot use the OCI runtime "${options.runtime}" (option "runtime"): this Docker engine lists only ${runtimes.map((name) => `"${name}"`).join(", ")}; install it and register it with the engine (for gVisor: runsc install)`,
            details: { option: "runtime", runtime: options.runtime, engineRuntimes: runtimes },
          });
        }
      }
      if (options.blockHostNetwork === true && options.blockNetwork !== true) {
        const reason = await hostFirewallUnsupportedReason(this.#engine.docker);
        if (reason !== undefined) {
          throw this.error("UNSUPPORTED_CAPABILITY", {
            message: `provider "${LOCAL_DOCKER_PROVIDER}" cannot honour the "blockHostNetwork" option here: ${reason}`,
            details: { option: "blockHostNetwork", capability: "blockHostNetwork", reason },
          });
        }
      }
      await this.#engine.ensureImage(imageName, options.onPullProgress);
      const network =
        options.blockNetwork === true
          ? undefined
          : (options.network ?? (await this.#engine.ensureSandboxNetwork(options.blockHostNetwork === true ? "no-host" : "isolated")));
      const labels: Record<string, string> = {
        [LABELS.managed]: "true",
        [LABELS.provider]: LOCAL_DOCKER_PROVIDER,
        [LABELS.app]: appName,
        ...currentOwnerLabels(),
        [LABELS.expiresAt]: String(Date.now() + lifetimeMs),
      };
      if (options.name) labels[LABELS.name] = options.name;
      const volumes = Object.entries(options.volumes ?? {}).map(([mountPath, volumeName]) => ({ mountPath, volumeName }));
      for (const volume of volumes) {
        // Volumes outlive sandboxes on purpose: no owner or expiry labels.
        await this.#engine.ensureVolume(volume.volumeName, { [LABELS.managed]: "true", [LABELS.provider]: LOCAL_DOCKER_PROVIDER, [LABELS.app]: appName });
      }
      this.#container = await this.#engine.createContainer({
        image: imageName,
        name: options.name ? `${appName}--${options.name}` : undefined,
        labels,
        env,
        workdir: options.workdir,
        cpu: options.cpu,
        memoryMiB: options.memoryMiB,
        blockNetwork: options.blockNetwork,
        network,
        user: options.user,
        volumes,
        lifetimeMs,
        pidsLimit: options.pidsLimit,
        runtime: options.runtime,
        gpu: options.gpu ? parseGpu(options.gpu) : undefined,
        ports: options.ports,
      });
      if (options.user !== undefined && options.workdir !== undefined) await this.giveWorkdirToUser(options.workdir, Object.keys(options.volumes ?? {}));
      return this.#container.id;
    } catch (error) {
      if (SandboxError.isInstance(error)) throw error;
      if (options.user !== undefined && /unable to find user|no matching entries in passwd|unable to find group/i.test(String((error as Error)?.message))) {
        throw this.error("INVALID_OPTIONS", {
          message: `invalid option "user": the image "${imageName}" has no user "${options.user}"; give a numeric uid (e.g. "1000:1000") or a user the image defines`,
          details: { option: "user", user: options.user },
          cause: error,
        });
      }
      if (error instanceof EngineError && error.kind === "conflict" && options.name) {
        // Retrying cannot help while that sandbox lives (as on Modal).
        throw this.error("SANDBOX_CREATION_FAILED", {
          message: `a sandbox named "${options.name}" already exists in app "${appName}"`,
          cause: error,
          retryable: false,
          details: { option: "name" },
        });
      }
      const mapped = fromEngineError(error, "SANDBOX_CREATION_FAILED", `could not create sandbox from image "${imageName}"`);
      const imageMissing = error instanceof EngineError && error.kind === "image-unavailable";
      throw this.error(mapped.code, {
        message: mapped.message,
        cause: error,
        ...(imageMissing ? { details: { reason: "image-unavailable", imageName } } : {}),
      });
    }
  }

  /**
   * Docker creates a missing workdir, and its missing parents, owned by
   * root: a non-root `user` could not write in its own working directory.
   * The directories the engine added for it (the container's changes list
   * them as added) are given to the user, as a `mkdir -p` by that user would
   * have made them; a directory the image has, and a volume's mount point
   * or anything under it, keep their owner.
   * @throws `SANDBOX_CREATION_FAILED` (the container is removed) when they cannot be.
   */
  private async giveWorkdirToUser(workdir: string, mountPaths: string[]): Promise<void> {
    const container = this.#container!;
    try {
      // Kind 1: added to the container's layer (0 changed, 2 deleted).
      const changes: Array<{ Path: string; Kind: number }> = (await this.#engine.docker.getContainer(container.id).changes()) ?? [];
      const added = new Set(changes.filter((change) => change.Kind === 1).map((change) => change.Path));
      const parts = posix.normalize(workdir).split("/").filter(Boolean);
      const created = parts
        .map((_, index) => `/${parts.slice(0, index + 1).join("/")}`)
        .filter(
          (directory) => added.has(directory) && !mountPaths.some((mount) => directory === mount || directory.startsWith(`${mount.replace(/\/+$/, "")}/`)),
        );
      if (created.length === 0) return;
      const { uid, gid } = await this.userIds();
      // The engine applies a directory entry's owner to an existing directory (a root exec has no capabilities under a non-root user).
      const pack = tar.pack();
      for (const directory of created) {
        const mode = ((await container.stat(directory))?.mode ?? 0o755) & 0o777;
        pack.entry({ name: directory.slice(1), type: "directory", mode, uid, gid });
      }
      pack.finalize();
      await container.putArchive(pack as unknown as NodeJS.ReadableStream, "/");
    } catch (error) {
      await container.remove().catch(() => undefined);
      throw this.error("SANDBOX_CREATION_FAILED", {
        message: `could not give the workdir "${workdir}" to user "${this.options.user}": ${error instanceof Error ? error.message : String(error)}`,
        cause: error,
        details: { option: "workdir" },
      });
    }
  }

  /** The ids the container's processes get (its user: a name, or a uid with or without a group); read once. */
  private userIds(): Promise<{ uid: number; gid: number }> {
    this.#userIds ??= (async () => {
      let ids = "";
      const asUser = await this.#container!.exec(["sh", "-c", 'echo "$(id -u) $(id -g)"'], { onStdout: (chunk) => (ids += chunk.toString("utf8")) });
      const { exitCode } = await asUser.done;
      const match = /^(\d+) (\d+)$/.exec(ids.trim());
      if (exitCode !== 0 || !match) throw new Error(`could not read the user's ids (got ${JSON.stringify(ids.trim())})`);
      return { uid: Number(match[1]), gid: Number(match[2]) };
    })();
    // A failure is not kept: the next call asks again.
    this.#userIds.catch(() => (this.#userIds = undefined));
    return this.#userIds;
  }

  /**
   * Owner of a file the archive API creates: the sandbox's user, as for a
   * file the agent or a command creates (undefined: root). Read once, from
   * the container (a handle from `fromId` has no options to go by).
   */
  private newFileOwner(): Promise<{ uid: number; gid: number } | undefined> {
    this.#newFileOwner ??= (async () => {
      const user = (await this.#container!.inspect()).Config.User ?? "";
      if (user === "" || /^(0|root)(:(0|root))?$/.test(user)) return undefined;
      return this.userIds();
    })().catch(() => {
      // Unknown (the engine did not answer): root, as before; asked again next time.
      this.#newFileOwner = undefined;
      return undefined;
    });
    return this.#newFileOwner;
  }

  protected async runCommand(request: CommandRequest): Promise<CommandOutcome> {
    const agent = await this.settledAgent();
    if (agent) {
      try {
        return await this.runThroughAgent(agent, request);
      } catch (error) {
        // Nothing of the command ran (the agent could not fork or was gone): run it the other way.
        if (!(error instanceof AgentStartFailure)) throw error;
      }
    }
    try {
      return await this.runThroughExec(request);
    } finally {
      this.startAgent();
    }
  }

  /** The running agent, or undefined while it starts (no waiting), after it died, or in exec mode. */
  private async settledAgent(): Promise<AgentChannel | undefined> {
    const starting = this.#agent;
    if (starting === undefined) return undefined;
    const settled = await Promise.race([starting, Promise.resolve(null)]);
    return settled?.alive ? settled : undefined;
  }

  private async runThroughAgent(agent: AgentChannel, request: CommandRequest): Promise<CommandOutcome> {
    const marker = `${EXEC_MARKER_VARIABLE}=${randomUUID()}`;
    const run = agent.run({
      command: request.command,
      cwd: request.cwd ?? this.#claimed?.workdir ?? "",
      env: this.#claimed ? { ...this.#claimed.env, ...request.env } : request.env,
      marker,
      onStdout: request.onStdout,
      onStderr: request.onStderr,
    });
    let killing: Promise<boolean> | undefined;
    const ended = new Promise<"aborted">((resolve) => {
      const onAbort = () => {
        killing ??= run.kill();
        resolve("aborted");
      };
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener("abort", onAbort, { once: true });
      run.done.then(
        () => request.signal.removeEventListener("abort", onAbort),
        () => request.signal.removeEventListener("abort", onAbort),
      );
    });
    let exit: Awaited<typeof run.done> | "aborted";
    try {
      exit = await Promise.race([run.done, ended]);
    } catch (error) {
      if (error instanceof AgentStartFailure) throw error;
      // The agent died mid-command: make sure nothing of the command is left, then say so.
      await this.killByMarker(marker);
      if (!(await this.stillRunning()))
        throw this.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)", cause: error });
      throw this.error("COMMAND_FAILED", {
        message:
          "the command channel to the sandbox closed while the command ran (the sandbox agent died); the command was killed, later commands use docker exec",
        cause: error,
      });
    }
    if (exit === "aborted" || killing) {
      // Settle only once the tree is confirmed gone.
      return { exitCode: null, killConfirmed: await killing! };
    }
    // A container killed or removed from outside SIGKILLs the command a moment before the agent
    // itself goes: a 137 is the sandbox's end when the channel or the container is gone just after.
    if (exit.exitCode === 137 && (await this.endedAfterKill(agent))) {
      throw this.error("SANDBOX_NOT_FOUND", { message: "the sandbox stopped while the command ran (killed or removed from outside, or its lifetime ended)" });
    }
    if (exit.exitCode === 137 && oomKilledDuring(exit.oomBefore, exit.oomAfter)) {
      throw this.error("RESOURCE_LIMIT_EXCEEDED", {
        message: `the command was killed for exceeding the sandbox memory limit (${this.options.memoryMiB ?? "engine default"} MiB)`,
        details: { exitCode: exit.exitCode, memoryMiB: this.options.memoryMiB },
      });
    }
    return { exitCode: exit.exitCode };
  }

  /**
   * After a command exited 137: whether the sandbox ended (the agent's
   * channel closed, or the container stopped or went, within a short window)
   * rather than the command being killed inside a live sandbox. A container
   * killed or removed from outside ends its commands a moment before the
   * engine reports it stopped.
   *
   * Polled on purpose: the engine's events API cannot decide it sooner. It logs `kill` only
   * after the signal was delivered and `die` once the container's processes are gone, so the
   * command's 137 can arrive before either; and a SIGKILL or OOM kill inside a live sandbox logs
   * no container event at all, so "no event" would only be known after the same wait.
   */
  private async endedAfterKill(agent?: AgentChannel, settleMs = KILL_SETTLE_MS): Promise<boolean> {
    const deadline = Date.now() + settleMs;
    for (;;) {
      if (agent?.alive === false || !(await this.#container!.isRunning().catch(() => true))) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills every process carrying `marker` with a `docker exec` (best effort; used when the agent is gone). */
  private async killByMarker(marker: string): Promise<void> {
    try {
      const exec = await this.#container!.exec(["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", marker]);
      await exec.done;
    } catch {
      // the sandbox is gone: so is the command
    }
  }

  /**
   * Whether the container still runs. One killed from outside ends its
   * execs a moment before the engine reports it stopped, so the engine is
   * asked again for a short while.
   */
  private async stillRunning(): Promise<boolean> {
    const deadline = Date.now() + 2_000;
    for (;;) {
      if (!(await this.#container!.isRunning().catch(() => false))) return false;
      if (Date.now() >= deadline) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * A secret that is missing or unreadable: retrying the same create cannot
   * succeed until the store changes, so not retryable (as on Modal).
   */
  private unresolvedSecrets(problem: string): SandboxError {
    return this.error("SANDBOX_CREATION_FAILED", { message: `could not resolve secrets: ${problem}`, retryable: false, details: { option: "secrets" } });
  }

  private async runThroughExec(request: CommandRequest): Promise<CommandOutcome> {
    const container = this.#container!;
    // The OOM counter before this command comes in its own exec, as the first stderr line.
    const stderr = new OomBaselineReader(request.onStderr);
    let exec: Awaited<ReturnType<EngineContainer["exec"]>>;
    try {
      // By absolute path (as the agent does): the exec's Env carries the caller's env, and a PATH there must not hide the shell.
      // The shell enters the cwd itself, so that one it cannot enter is named (Docker would exit 126 with the runtime's words).
      exec = await container.exec(shellArgvIn(`${OOM_BASELINE_PREFIX}${request.command}`, request.cwd ?? this.#claimed?.workdir), {
        env: this.#claimed ? { ...this.#claimed.env, ...request.env } : request.env,
        onStdout: request.onStdout,
        onStderr: stderr.push,
      });
    } catch (error) {
      throw await this.commandErrorAtStart(error);
    }
    const onAbort = () => void exec.kill({ processGroup: stderr.processGroup }).catch(() => undefined);
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const { exitCode, killed } = await exec.done;
      stderr.end();
      if (killed) {
        // Settle only once the tree is confirmed gone (kill() resolves after that).
        const killConfirmed = await exec.kill().then(
          () => true,
          () => false,
        );
        return { exitCode: null, killConfirmed };
      }
      // SIGKILL from outside: the container was killed or removed mid-command. Its command did not exit
      // 137 by itself, the sandbox is gone (one inspect, only after a 137).
      if ((exitCode === 137 || exitCode === null) && (await this.endedAfterKill())) {
        throw this.error("SANDBOX_NOT_FOUND", { message: "the sandbox stopped while the command ran (killed or removed from outside, or its lifetime ended)" });
      }
      if (exitCode === 137 && oomKilledDuring(stderr.baseline, await this.readOomKillCount())) {
        throw this.error("RESOURCE_LIMIT_EXCEEDED", {
          message: `the command was killed for exceeding the sandbox memory limit (${this.options.memoryMiB ?? "engine default"} MiB)`,
          details: { exitCode, memoryMiB: this.options.memoryMiB },
        });
      }
      if (exitCode === 126 && stderr.cwdProblem !== undefined) return { exitCode, cwdProblem: stderr.cwdProblem };
      // 126 before the shell printed its first line: the runtime could not start it ("OCI runtime exec
      // failed: ... setns ..."), which is what an exec into a container that is going away gets.
      if (exitCode === 126 && stderr.processGroup === undefined && (await this.endedAfterKill(undefined, START_FAILURE_SETTLE_MS))) {
        throw this.stoppedAtStart();
      }
      return { exitCode };
    } catch (error) {
      if (SandboxError.isInstance(error)) throw error;
      throw await this.commandErrorAtStart(error);
    } finally {
      request.signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * {@link commandError} for a command that failed to start or to report its
   * end: the engine answers an exec into a container that is going away in
   * several ways (409, a 500 from the runtime, a stream cut), and every one
   * of them is the sandbox's end when the container stops just after.
   */
  private async commandErrorAtStart(error: unknown): Promise<SandboxError> {
    const mapped = this.commandError(error);
    if (mapped.code !== "COMMAND_FAILED" || !(await this.endedAfterKill(undefined, START_FAILURE_SETTLE_MS))) return mapped;
    return this.stoppedAtStart(error);
  }

  /** A command that met the sandbox's end as it started. */
  private stoppedAtStart(cause?: unknown): SandboxError {
    return this.error("SANDBOX_NOT_FOUND", {
      message: "the sandbox stopped as the command started (killed or removed from outside, or its lifetime ended)",
      cause,
    });
  }

  /** A gone container means the sandbox ended (closed elsewhere or expired). */
  private commandError(error: unknown): SandboxError {
    if (error instanceof EngineError && error.kind === "not-found") {
      return this.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)", cause: error });
    }
    const mapped = fromEngineError(error, "COMMAND_FAILED", "could not run command");
    return this.error(mapped.code, { message: mapped.message, cause: error });
  }

  /** The container cgroup's OOM-kill counter now (v1 or v2), or undefined when unreadable. */
  private async readOomKillCount(): Promise<number | undefined> {
    let text = "";
    try {
      const exec = await this.#container!.exec(["sh", "-c", READ_OOM_KILL_COUNT_COMMAND], { onStdout: (chunk) => (text += chunk.toString("utf8")) });
      await exec.done;
    } catch {
      return undefined;
    }
    return parseOomKillCount(text);
  }

  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    return this.thenStartAgent(this.putFilesNow(files));
  }

  /**
   * Starts the command agent in the background once `operation` settled, as
   * after a command: a sandbox used only for file transfers gets the agent
   * too (~2 ms a small file instead of ~180 ms through the archive API), and
   * a create followed by one call never waits for it.
   */
  private async thenStartAgent<T>(operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } finally {
      this.startAgent();
    }
  }

  private async putFilesNow(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    const answers = await this.throughAgent(files, (agent, [path, content]) =>
      agent && content.byteLength <= AGENT_FILE_MAX_BYTES && fitsAgent(path) ? agent.writeFile(agentPath(path), content) : undefined,
    );
    const full = answers.findIndex((answer) => answer !== undefined && "problem" in answer && answer.problem === "no_space");
    if (full !== -1) {
      // As the archive path does for a full disk: the call fails. The agent wrote beside the file, so it keeps its content.
      throw this.error("FILE_OPERATION_FAILED", {
        message: `could not write ${files[full]![0]}: no space left on the sandbox's file system (or over its quota); the file keeps its previous content`,
        details: { path: files[full]![0], reason: "no-space" },
      });
    }
    const results: Array<FileUploadResponse | undefined> = answers.map(
      (answer, index) =>
        answer && {
          path: files[index]![0],
          error: "problem" in answer ? fileOperationCodeOf(answer.problem as Exclude<AgentFileProblem, "no_space">, "write") : null,
        },
    );
    const rest = files.filter((_, index) => results[index] === undefined);
    if (rest.length > 0) {
      let written: FileUploadResponse[];
      try {
        written = (await writeContainerFiles(this.#container!, rest, { newFileOwner: await this.newFileOwner() })).map(({ path, problem }) => ({
          path,
          error: problem === null ? null : fileOperationCodeOf(problem, "write"),
        }));
      } catch (error) {
        throw await this.fileError(error);
      }
      fillGaps(results, written);
    }
    return results as FileUploadResponse[];
  }

  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    return this.thenStartAgent(this.getFilesNow(paths));
  }

  private async getFilesNow(paths: string[]): Promise<FileDownloadResponse[]> {
    const maxBytes = this.options.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
    const answered: Array<FileDownloadResponse | undefined> = (
      await this.throughAgent(paths, (agent, path) => (agent && fitsAgent(path) ? readThroughAgent(agent, agentPath(path), maxBytes) : undefined))
    ).map((answer, index) => {
      const path = paths[index]!;
      if (answer === undefined) return undefined;
      // A read names no "no_space".
      const problem = "problem" in answer ? (answer.problem as Exclude<AgentFileProblem, "no_space">) : undefined;
      return problem
        ? { path, content: null, error: fileOperationCodeOf(problem, "read") }
        : { path, content: (answer as { content: Uint8Array }).content, error: null };
    });
    const rest = paths.filter((_, index) => answered[index] === undefined);
    if (rest.length === 0) return answered as FileDownloadResponse[];
    let results: FileDownloadResponse[];
    try {
      const read = await readContainerFiles(this.#container!, rest, {
        maxBytes,
        timeoutMs: this.options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
        devices: "refuse",
      });
      results = read.map(({ path, content, problem }) =>
        problem === null ? { path, content, error: null } : { path, content: null, error: fileOperationCodeOf(problem, "read") },
      );
    } catch (error) {
      throw await this.fileError(error);
    }
    // The engine answers a path stat on a removed container with a bare 404,
    // like a missing file: a per-file error is only believed while the container runs.
    if (results.some((result) => result.error !== null) && !(await this.checkRunning())) {
      throw this.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
    }
    fillGaps(answered, results);
    return answered as FileDownloadResponse[];
  }

  /**
   * `ls` without a command: the agent lists the directory itself, as this
   * image's `find` would.
   */
  protected override async listDirectory(path: string): Promise<string | undefined> {
    const lister = await this.agentLister();
    return lister?.agent.listDirectory(path, lister.find);
  }

  /** `glob` without a command: the agent walks the tree itself, as this image's `find` would. */
  protected override async listTree(root: string, nameFilter: string | undefined): Promise<string | undefined> {
    const lister = await this.agentLister();
    return lister?.agent.listTree(root, nameFilter, lister.find);
  }

  /** `grep` without a command: the agent searches the files itself, as this image's `grep` (and `find`, with a glob) would. */
  protected override async searchTree(pattern: string, path: string, glob: string | null, maxOutputBytes: number): Promise<string | undefined> {
    const agent = await this.settledAgent();
    const grep = agent?.searches ? (await this.tools())?.grep : undefined;
    if (!agent || !grep) return undefined;
    // One byte more than the cap tells a cut output, decoded as execute decodes one (a character cut in two is left out).
    const output = await agent.search(path, pattern, glob, grep, maxOutputBytes + 1);
    if (output === undefined) return undefined;
    const cut = output.byteLength > maxOutputBytes;
    return new TextDecoder("utf-8", { fatal: false }).decode(cut ? output.subarray(0, maxOutputBytes) : output, { stream: cut });
  }

  /**
   * `read_file` without a command: the agent reads the file (up to 1 MiB)
   * and core numbers its lines as this image's `awk` would. Only for a
   * path `[ -f ]` resolves as the agent does (no `.`, `..` or doubled
   * slashes: the shell takes `..` after symlinks).
   */
  protected override async readForTools(path: string): Promise<FileForRead | undefined> {
    if (!fitsAgent(path) || posix.normalize(path) !== path || (path.endsWith("/") && path !== "/")) return undefined;
    const agent = await this.settledAgent();
    const awk = agent?.fileOperations ? (await this.tools())?.awk : undefined;
    if (!agent || !awk) return undefined;
    const answer = await agent.readFile(path, AGENT_FILE_MAX_BYTES);
    if (answer === undefined) return undefined;
    if ("content" in answer) return { content: answer.content, bytesAsText: awk === "bytes" };
    return ["not_found", "not_a_directory", "is_directory", "not_regular"].includes(answer.problem) ? { missing: true } : undefined;
  }

  /**
   * The tools the file tools' commands run here, asked once per handle (and
   * again after a claim, which may change the environment): `grep` GNU's or
   * BusyBox's (whose answers the agent knows; `gnu-c`: GNU's reading every
   * byte as text, as in the C locale), where `find` is one of those too; and
   * `awk`: `bytes` (mawk, BusyBox: a byte is a character) or `gawk`.
   * Undefined fields for anything else.
   */
  private async tools(): Promise<SandboxTools | undefined> {
    const kind = (line: string) => (/\bGNU\b/.test(line) ? "gnu" : /\bBusyBox\b/.test(line) ? "busybox" : undefined);
    this.#tools ??= this.execute(TOOLS_COMMAND, { maxOutputBytes: 4096 }).then(
      (result): SandboxTools => {
        const [grepLine = "", findLine = "", eightBit = "", awkLine = ""] = result.output.split("\n");
        const grep = kind(findLine) === undefined ? undefined : kind(grepLine);
        const awk = /^mawk\b|\bBusyBox\b/.test(awkLine) ? "bytes" : /\bGNU Awk\b/.test(awkLine) ? "gawk" : undefined;
        return { grep: grep === "gnu" && eightBit.trim() === "3" ? "gnu-c" : grep, awk };
      },
      () => undefined,
    );
    const tools = await this.#tools;
    if (tools === undefined) this.#tools = undefined;
    return tools;
  }

  /** The agent, when it can list files, with the `find` whose answers it must give; undefined to run the command. */
  private async agentLister(): Promise<{ agent: AgentChannel; find: "gnu" | "busybox" } | undefined> {
    const agent = await this.settledAgent();
    const find = agent?.fileOperations ? await this.findKind() : undefined;
    return agent && find ? { agent, find } : undefined;
  }

  /** Whether the image's `find` has GNU's `-printf` (as `BaseSandbox` decides), asked once per handle. */
  private async findKind(): Promise<"gnu" | "busybox" | undefined> {
    this.#find ??= this.execute("find /dev/null -maxdepth 0 -printf '' 2>/dev/null").then(
      (result) => (result.exitCode === 0 ? "gnu" : "busybox"),
      () => undefined,
    );
    const find = await this.#find;
    if (find === undefined) this.#find = undefined;
    return find;
  }

  /**
   * Files go through the command agent, which reads and writes them itself
   * (no process, no archive; small ones in one message each way, large reads
   * streamed): each item's answer, or undefined where the archive path must
   * do it (no agent, a large write, a pseudo-filesystem, anything the agent
   * would not answer).
   */
  private async throughAgent<T>(
    items: T[],
    operation: (agent: AgentChannel | undefined, item: T) => Promise<AgentFileAnswer> | undefined,
  ): Promise<AgentFileAnswer[]> {
    const agent = await this.settledAgent();
    const usable = agent?.fileOperations ? agent : undefined;
    return Promise.all(items.map((item) => operation(usable, item) ?? Promise.resolve(undefined)));
  }

  /** A failed transfer on a container that stopped or vanished (however the engine words it) is SANDBOX_NOT_FOUND. */
  private async fileError(error: unknown): Promise<SandboxError> {
    const gone = error instanceof EngineError && error.kind === "not-found" && /container/.test(error.message);
    if (gone || !(await this.checkRunning().catch(() => true))) {
      return this.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)", cause: error });
    }
    const mapped = fromEngineError(error, "FILE_OPERATION_FAILED", "file transfer failed");
    return this.error(mapped.code === "SANDBOX_NOT_FOUND" ? "FILE_OPERATION_FAILED" : mapped.code, { message: mapped.message, cause: error });
  }

  protected async checkRunning(): Promise<boolean> {
    try {
      return await this.#container!.isRunning();
    } catch (error) {
      throw fromEngineError(error, "PROVIDER_UNAVAILABLE", "could not inspect the sandbox");
    }
  }

  protected async release(terminate: boolean): Promise<void> {
    if (!this.#container) return;
    const agent = this.#agent;
    this.#agentWanted = false;
    void agent?.then((channel) => channel?.close());
    if (!terminate) {
      // Container labels cannot change: mark the detachment inside, so reap()
      // leaves the sandbox to its lifetime for whoever reconnects.
      await writeContainerFiles(this.#container, [[DETACHED_MARKER_PATH, new Uint8Array(0)]]).catch(() => undefined);
      return;
    }
    try {
      await this.#container.remove();
    } catch (error) {
      throw fromEngineError(error, "PROVIDER_UNAVAILABLE", "could not remove the sandbox container");
    }
    // The managed network goes with its last sandbox (another process may still use it: then it stays).
    const network = this.options.blockNetwork === true ? undefined : (this.options.network ?? this.#managedNetwork());
    if (isSandboxNetwork(network)) await removeSandboxNetworkIfUnused(this.#engine.docker, network!).catch(() => undefined);
  }

  #managedNetwork(): string {
    return this.options.blockHostNetwork === true ? SANDBOX_NETWORKS["no-host"].name : SANDBOX_NETWORKS.isolated.name;
  }

  // ---- processes and ports (logic in sandbox-processes.ts, pty-process.ts, sandbox-ports.ts)

  private get processHost(): ProcessHost {
    return { container: this.#container!, error: (code, options) => this.error(code, options), commandError: (error) => this.commandError(error) };
  }

  protected override scriptProcesses(): ScriptProcesses {
    return {
      host: dockerProcessScripts(this.processHost),
      retainedBytes: this.options.processRetainedBytes ?? DEFAULT_PROCESS_RETAINED_BYTES,
      startTerminal: (request) => startPtyProcess(this.processHost, request),
    };
  }

  protected override async resolvePortUrls(): Promise<Record<number, string>> {
    try {
      return await portUrls(this.#container!);
    } catch (error) {
      throw this.commandError(error);
    }
  }

  // ---- warm pool (see createLocalDockerSandboxPool) ---------------------------

  /** Local-docker sandboxes can be pre-started by a warm pool and claimed. */
  override get supportsClaim(): boolean {
    return true;
  }

  /**
   * Applies a claim to this running container. Env and workdir of a running
   * container cannot change, so they become defaults of every exec this
   * handle starts (secrets resolved from the secret store first, `env` on
   * top, as at creation; the workdir is created). The container's expiry
   * label cannot change either: the lifetime is enforced by a detached
   * watchdog inside the container (`sleep N; kill -TERM 1`, tini forwards it
   * to the main `sleep`, the container stops and is auto-removed), so it
   * holds even if this process dies. The pooled container's label keeps the
   * pool's longer lifetime, which the reaper still honours as a backstop.
   */
  protected override async claimSandbox(claim: ResolvedSandboxClaim): Promise<void> {
    const env: Record<string, string> = {};
    if (claim.secrets && claim.secrets.length > 0) {
      const path = this.options.secretsFile ?? defaultSecretsFile();
      const resolution = resolveSecrets(claim.secrets, path);
      if (!resolution.ok) throw this.unresolvedSecrets(resolution.problem);
      for (const value of Object.values(resolution.env)) this.secretValues.add(value);
      Object.assign(env, resolution.env);
    }
    Object.assign(env, claim.env ?? {});
    const seconds = Math.max(1, Math.ceil(claim.timeoutMs / 1000));
    // The workdir is created and the lifetime watchdog started before any
    // command runs: a command started alongside could take every pid the
    // sandbox has (a fork bomb) and leave the claim's lifetime unenforced.
    // Through the agent this is one message and no process but the watchdog
    // (commands sent later are handled after it); else one exec that leaves
    // the watchdog running in the background.
    const agent = await this.startAgent();
    if (agent?.alive) {
      const applying = agent.claim(seconds, claim.workdir ?? "");
      if (claim.workdir === undefined) {
        // Nothing can fail that a command sent next would not wait for; should
        // the agent die before it started the watchdog, an exec starts one.
        void applying.then((problem) => (problem === undefined ? undefined : this.setUpClaimByExec(undefined, seconds).catch(() => undefined)));
      } else {
        const problem = await applying;
        if (problem !== undefined && agent.alive) {
          throw this.error("SANDBOX_CREATION_FAILED", { message: `could not apply the claim (workdir "${claim.workdir}"): ${problem}` });
        }
        if (problem !== undefined) await this.setUpClaimByExec(claim.workdir, seconds);
      }
    } else {
      await this.setUpClaimByExec(claim.workdir, seconds);
    }
    this.#claimed = { env, workdir: claim.workdir };
    this.#tools = undefined; // the claim's environment may set another locale or PATH
  }

  /** One exec that creates the workdir and leaves the lifetime watchdog running in the background. */
  private async setUpClaimByExec(workdir: string | undefined, seconds: number): Promise<void> {
    const script = 'if [ -n "$1" ]; then mkdir -p -- "$1" || exit 1; fi; (sleep "$2"; kill -TERM 1) </dev/null >/dev/null 2>&1 &';
    let stderr = "";
    let exitCode: number | null;
    try {
      const exec = await this.#container!.exec(["sh", "-c", script, "sandbox-claim", workdir ?? "", String(seconds)], {
        onStderr: (chunk) => (stderr += chunk.toString("utf8")),
      });
      ({ exitCode } = await exec.done);
    } catch (error) {
      throw this.commandError(error);
    }
    if (exitCode !== 0) throw this.error("SANDBOX_CREATION_FAILED", { message: `could not apply the claim (workdir "${workdir}"): ${stderr.trim()}` });
  }
}

function validateDockerOptions(options: LocalDockerSandboxOptions): void {
  const fail = (option: string, message: string): never => {
    throw new LocalDockerSandboxError("INVALID_OPTIONS", { message: `invalid option "${option}": ${message}`, details: { option } });
  };
  if (options.cpu !== undefined && options.cpu < MIN_CPU)
    fail("cpu", `must be at least ${MIN_CPU} cores (the Docker engine's smallest CPU quota), got ${options.cpu}`);
  if (options.gpu !== undefined) {
    const { type, count } = parseGpu(options.gpu);
    if (type.toLowerCase() !== "any") {
      throw new LocalDockerSandboxError("UNSUPPORTED_CAPABILITY", {
        message: `provider "${LOCAL_DOCKER_PROVIDER}" cannot select the GPU model "${type}" (option "gpu"): the Docker engine's device requests choose GPUs by count only; ask for gpu: "any"${count > 1 ? ` or "any:${count}"` : ""} to get whichever GPU the engine has`,
        details: { option: "gpu", capability: "gpu", gpuType: type },
      });
    }
  }
  if (options.appName !== undefined && (typeof options.appName !== "string" || !APP_NAME.test(options.appName))) {
    fail("appName", "must be 1-63 characters of letters, digits, '.', '_' or '-'");
  }
  if (options.runtime !== undefined && (typeof options.runtime !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.runtime)))
    fail("runtime", `must be a runtime name such as "runsc", got ${JSON.stringify(options.runtime)}`);
  if (
    options.user !== undefined &&
    (typeof options.user !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/.test(options.user))
  )
    fail("user", `must be a user name or uid, optionally with ":group" (e.g. "1000:1000"), got ${JSON.stringify(options.user)}`);
  if (options.network !== undefined) {
    if (typeof options.network !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(options.network))
      fail("network", `must be the name of a Docker network, got ${JSON.stringify(options.network)}`);
    if (options.network === "host" || options.network === "none")
      fail("network", `"${options.network}" is not allowed: use blockNetwork for no network; the host's network is never shared`);
    if (options.blockNetwork === true) fail("network", "cannot join a network with blockNetwork: true");
    if (options.blockHostNetwork === true) fail("network", "cannot be combined with blockHostNetwork (which joins its own network)");
  }
  if (options.blockHostNetwork !== undefined && typeof options.blockHostNetwork !== "boolean") fail("blockHostNetwork", "must be a boolean");
  if (options.maxDownloadBytes !== undefined && (!Number.isInteger(options.maxDownloadBytes) || options.maxDownloadBytes < 1))
    fail("maxDownloadBytes", `must be a positive whole number of bytes, got ${String(options.maxDownloadBytes)}`);
  if (options.pidsLimit !== undefined && (!Number.isInteger(options.pidsLimit) || options.pidsLimit < 8))
    fail("pidsLimit", "must be a whole number of at least 8");
  if (options.secretsFile !== undefined && (typeof options.secretsFile !== "string" || options.secretsFile === "")) fail("secretsFile", "must be a file path");
  if (options.onPullProgress !== undefined && typeof options.onPullProgress !== "function") fail("onPullProgress", "must be a function");
  if (options.reapOnStart !== undefined && typeof options.reapOnStart !== "boolean") fail("reapOnStart", "must be a boolean");
  if (options.processRetainedBytes !== undefined && (!Number.isInteger(options.processRetainedBytes) || options.processRetainedBytes < SEGMENT_BYTES)) {
    fail("processRetainedBytes", `must be a whole number of bytes, at least ${SEGMENT_BYTES} (1 MiB)`);
  }
  if (options.commandChannel !== undefined && !(COMMAND_CHANNELS as readonly unknown[]).includes(options.commandChannel))
    fail("commandChannel", `must be "agent" or "exec", got ${JSON.stringify(options.commandChannel)}`);
  if (options.blockNetwork === true && options.ports !== undefined && options.ports.length > 0)
    fail("ports", "cannot publish ports of a sandbox created with blockNetwork: true");
  if (
    options.docker !== undefined &&
    (typeof options.docker !== "object" || options.docker === null || typeof (options.docker as Docker).ping !== "function")
  ) {
    fail("docker", "must be a dockerode client");
  }
}
