import { LABELS } from "@sandbox/docker-engine";
import { ServerError, Status } from "nice-grpc";
import type { ContainerSpec, DockerEngine } from "./docker-engine.js";
import { INSTANCE_LABEL, MODAL_OBJECT_LABELS } from "./emulator-labels.js";
import { EXIT_COMMAND_NOT_FOUND, EXIT_KILLED, ExecSession, SIGKILL } from "./exec-session.js";
import { DEFAULT_MAX_READ_FILE_BYTES, FilesystemToolServer, parseFilesystemToolArgv } from "./filesystem-tools.js";
import { ImageResolver } from "./image-resolver.js";
import type { ControlPlaneRequest, SandboxDefinition, TaskExecStartRequest } from "./modal-sdk-definitions.js";
import { allowlistUnsupportedReason, enforceAllowlist, type OutboundAllowlist, validateCidrs } from "./network-policy.js";
import { mintObjectId, mintSandboxId, randomBase62 } from "./object-ids.js";
import { OidcTokenIssuer } from "./oidc-tokens.js";
import { ObjectCreationType } from "./protocol-values.js";
import { type ProbeDefinition, runReadinessProbe } from "./readiness-probe.js";
import { validatePlacementAndOptions } from "./sandbox-options.js";
import { GenericStatus, type SandboxFamily, SandboxRecord } from "./sandbox-record.js";
import { type SandboxVolumeMount, VolumeSync } from "./volume-sync.js";

/** `NetworkAccess.NetworkAccessType` values. */
const NetworkAccessType = { open: 1, blocked: 2, allowlist: 3 } as const;
/** A command line that runs `sync`: in a sandbox with volumes, it commits them (see `#runSyncCommit`). */
const SYNC_COMMAND = /(^|[\s;&|/(])sync(\s|$|[;&|)])/;
/** `TaskExecStdoutConfig` / `TaskExecStderrConfig`: 1 means pipe. */
const STDIO_PIPE = 1;
const DEFAULT_ENVIRONMENT = "main";
/**
 * Extra life given to the container past the sandbox timeout: the emulator's
 * own timer normally ends the sandbox (and reports TIMEOUT) first, while the
 * container still ends by itself, this little later, if the emulator died.
 */
const CONTAINER_LIFETIME_GRACE_MS = 2_000;
/**
 * How long a finished exec's output stays readable. The SDK reads output
 * right after `wait()`; dropping it later keeps a long-lived sandbox (many
 * large filesystem reads) from holding every byte it ever produced.
 */
export const FINISHED_EXEC_RETENTION_MS = 5 * 60_000;
/** How long a finished sandbox stays known (for `wait`, `poll`, `fromName` with terminated ones). */
export const FINISHED_SANDBOX_RETENTION_MS = 30 * 60_000;
/** Most entries each inspection log keeps; older ones are dropped so a long-running emulator stays bounded. */
export const INSPECTION_LOG_LIMIT = 10_000;

/** Appends to an inspection log, dropping the oldest entry past the limit. */
export function appendBounded<Entry>(log: Entry[], entry: Entry): void {
  log.push(entry);
  if (log.length > INSPECTION_LOG_LIMIT) log.splice(0, log.length - INSPECTION_LOG_LIMIT);
}

/** A create request as the emulator received it, for tests to assert on. */
export interface RecordedSandboxCreate {
  family: SandboxFamily;
  /** The decoded request message (`SandboxCreateRequest` or `SandboxCreateV2Request`). */
  request: ControlPlaneRequest<"sandboxCreate"> | ControlPlaneRequest<"sandboxCreateV2">;
  /** The id minted for it, when the create succeeded. */
  sandboxId?: string;
  /** Why it was refused, when it was. */
  refusedReason?: string;
  atMs: number;
}

/** An exec start as received, for inspection. */
export interface RecordedExecStart {
  taskId: string;
  execId: string;
  commandArgs: string[];
  /** True when the emulator served it host-side (the filesystem helper). */
  hostSide: boolean;
  atMs: number;
}

/** A named or ephemeral secret. */
interface SecretRecord {
  secretId: string;
  name: string | undefined;
  values: Record<string, string>;
}

/** A Modal volume, backed by one Docker volume. */
export interface VolumeRecord {
  volumeId: string;
  name: string | undefined;
  environmentName: string;
  dockerVolumeName: string;
}

interface AppRecord {
  appId: string;
  name: string;
  environmentName: string;
  createdAtSeconds: number;
}

/** What {@link EmulatorState} needs to run. */
export interface EmulatorStateOptions {
  engine: DockerEngine;
  instanceId: string;
  /** Labels on every container, volume and image the emulator creates. */
  labels: Record<string, string>;
  imageAliases: Record<string, string>;
  secrets: Record<string, Record<string, string>>;
  /** Pass GPU requests to the engine instead of refusing them. */
  gpuAvailable: boolean;
  /** Image of the helper containers that copy volumes on mount, commit and reload; default `sandbox-busybox:latest`. */
  volumeHelperImage?: string;
  /** Largest file `sandbox.filesystem` reads return; default {@link DEFAULT_MAX_READ_FILE_BYTES}. */
  maxReadFileBytes?: number;
  onProgress?: (line: string) => void;
}

function fail(code: Status, message: string): never {
  throw new ServerError(code, message);
}

/**
 * Sandbox create parameters the emulator cannot honour, each refused with
 * INVALID_ARGUMENT naming the SDK parameter, so none is silently dropped.
 * (Honoured: command, timeoutMs, idleTimeoutMs, workdir, env, secrets,
 * volumes, cpu/cpuLimit, memoryMiB/memoryLimitMiB, blockNetwork, name, tags,
 * cloud/regions (validated), readinessProbe, includeOidcIdentityToken,
 * allowlists; refused elsewhere: gpu, ports, cloudBucketMounts, pty, and
 * experimental options such as enable_docker.)
 */
function refuseUnsupportedDefinitionFields(definition: Record<string, unknown>): void {
  const refuse = (parameter: string, why: string): never => fail(Status.INVALID_ARGUMENT, `modal-emulator does not support ${parameter}: ${why}`);
  const nonEmpty = (value: unknown) =>
    Array.isArray(value) ? value.length > 0 : typeof value === "string" ? value !== "" : value !== undefined && value !== null;
  if (nonEmpty(definition.runtime)) refuse("runtime", "sandboxes run as Docker containers with the engine's default runtime");
  if (nonEmpty(definition.experimentalOutboundPolicy)) refuse("experimentalOutboundPolicy", "it cannot rewrite outbound HTTPS headers");
  if (nonEmpty(definition.inboundCidrAllowlist)) refuse("inboundCidrAllowlist", "it provides no inbound connections (tunnels) to filter");
  if (definition.i6pnEnabled === true) refuse("i6pn", "there is no private IPv6 network between sandboxes");
  if (definition.verbose === true) refuse("verbose", "it has no verbose sandbox logging");
  if (nonEmpty(definition.proxyId)) refuse("proxy", "it has no Modal Proxies");
  const experimental = definition.experimentalOptionsV2 as Record<string, unknown> | undefined;
  if (experimental && Object.keys(experimental).length > 0)
    refuse(`experimentalOptions (${Object.keys(experimental).join(", ")})`, "it knows no other experimental options");
  if (nonEmpty(definition.customDomain)) refuse("customDomain", "it serves no domains");
  if (definition.enableSnapshot === true) refuse("experimentalEnableSnapshot", "it has no memory snapshots");
}

/**
 * Docker's counterparts of Modal's resource requests: `cpu` becomes CPU
 * shares (1024 per core: a relative weight under contention, no cap) and
 * `memoryMiB` a memory reservation (a soft limit the kernel reclaims towards
 * under memory pressure). Docker refuses a reservation not below the hard
 * limit, so one equal to `memoryLimitMiB` is left to the limit.
 */
function reservationOf(milliCpu: number, memoryMb: number, memoryLimitMb: number): { CpuShares?: number; MemoryReservation?: number } | undefined {
  const update: { CpuShares?: number; MemoryReservation?: number } = {};
  if (milliCpu > 0) update.CpuShares = Math.max(2, Math.round((milliCpu * 1024) / 1000));
  if (memoryMb > 0 && (memoryLimitMb === 0 || memoryMb < memoryLimitMb)) update.MemoryReservation = memoryMb * 1024 * 1024;
  return Object.keys(update).length > 0 ? update : undefined;
}

function assignDefined(target: Record<string, string>, values: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(values)) if (value !== undefined) target[key] = value;
}

function normalizeEnvironment(name: string | undefined): string {
  return name && name !== "" ? name : DEFAULT_ENVIRONMENT;
}

/**
 * Everything the emulator knows: apps, images, secrets, volumes, sandboxes
 * and their execs, and the Docker resources behind them. The gRPC services
 * are thin translations onto this.
 */
export class EmulatorState {
  readonly engine: DockerEngine;
  readonly images: ImageResolver;
  readonly sandboxCreates: RecordedSandboxCreate[] = [];
  readonly execStarts: RecordedExecStart[] = [];
  readonly #options: EmulatorStateOptions;
  readonly #apps = new Map<string, AppRecord>();
  readonly #appsById = new Map<string, AppRecord>();
  readonly #secrets = new Map<string, SecretRecord>();
  readonly #secretIdsByName = new Map<string, string>();
  readonly #volumes = new Map<string, VolumeRecord>();
  readonly #volumeIdsByName = new Map<string, string>();
  readonly #sandboxes = new Map<string, SandboxRecord>();
  readonly #sandboxesByTask = new Map<string, SandboxRecord>();
  /** Names being claimed by creates in flight, so two concurrent creates cannot both win. */
  readonly #pendingNames = new Set<string>();
  readonly #filesystemTools: FilesystemToolServer;
  readonly #volumeSync: VolumeSync;
  /** Commits and private-copy removals of ended sandboxes still running; shutdown waits for them. */
  readonly #volumeFinalizers = new Map<Promise<void>, SandboxRecord>();
  /** Signs the `MODAL_IDENTITY_TOKEN` of sandboxes created with `includeOidcIdentityToken`. */
  readonly oidc = new OidcTokenIssuer();
  /** The workspace id identity tokens name (one per emulator, Modal's `ac-` shape). */
  readonly workspaceId = `ac-${randomBase62(22)}`;
  #lastCreatedAtSeconds = 0;

  constructor(options: EmulatorStateOptions) {
    this.#options = options;
    this.engine = options.engine;
    this.#filesystemTools = new FilesystemToolServer(options.maxReadFileBytes ?? DEFAULT_MAX_READ_FILE_BYTES);
    this.#volumeSync = new VolumeSync(options.engine, options.labels, options.volumeHelperImage);
    this.images = new ImageResolver({
      engine: options.engine,
      aliases: options.imageAliases,
      labels: options.labels,
      imageRepository: `modal-emulator-image-${options.instanceId.toLowerCase()}`,
      onProgress: options.onProgress,
    });
    for (const [name, values] of Object.entries(options.secrets)) this.putNamedSecret(name, values);
  }

  /* ----------------------------------------------------------------- apps */

  /** Returns the app's id, creating the app when asked; `undefined` when missing. */
  appGetOrCreate(name: string, environmentName: string | undefined, createIfMissing: boolean): AppRecord | undefined {
    const environment = normalizeEnvironment(environmentName);
    const key = `${environment}/${name}`;
    let app = this.#apps.get(key);
    if (!app && createIfMissing) {
      app = { appId: mintObjectId("app"), name, environmentName: environment, createdAtSeconds: Date.now() / 1000 };
      this.#apps.set(key, app);
      this.#appsById.set(app.appId, app);
    }
    return app;
  }

  app(appId: string): AppRecord | undefined {
    return this.#appsById.get(appId);
  }

  appByName(name: string, environmentName: string | undefined): AppRecord | undefined {
    return this.#apps.get(`${normalizeEnvironment(environmentName)}/${name}`);
  }

  /* -------------------------------------------------------------- secrets */

  /** Adds or replaces a named secret (the seed file and the library API use this). */
  putNamedSecret(name: string, values: Record<string, string>): string {
    const existingId = this.#secretIdsByName.get(name);
    const secretId = existingId ?? mintObjectId("secret");
    this.#secrets.set(secretId, { secretId, name, values: { ...values } });
    this.#secretIdsByName.set(name, secretId);
    return secretId;
  }

  secretGetOrCreate(request: ControlPlaneRequest<"secretGetOrCreate">): string {
    const creationType = request.objectCreationType ?? 0;
    if (creationType === ObjectCreationType.ephemeral) {
      const secretId = mintObjectId("secret");
      const values: Record<string, string> = {};
      assignDefined(values, request.envDict ?? {});
      this.#secrets.set(secretId, { secretId, name: undefined, values });
      return secretId;
    }
    const name = request.deploymentName ?? "";
    const secretId = this.#secretIdsByName.get(name);
    if (!secretId) {
      if (creationType !== ObjectCreationType.unspecified && request.envDict) {
        const values: Record<string, string> = {};
        assignDefined(values, request.envDict);
        return this.putNamedSecret(name, values);
      }
      fail(Status.NOT_FOUND, `Secret '${name}' not found. modal-emulator serves named secrets from its seed (secrets option or --secrets-file).`);
    }
    const values = this.#secrets.get(secretId)!.values;
    const missing = (request.requiredKeys ?? []).filter((key) => !(key in values));
    if (missing.length > 0) {
      fail(Status.FAILED_PRECONDITION, `Secret is missing key(s): ${missing.join(", ")}`);
    }
    return secretId;
  }

  deleteSecret(secretId: string): void {
    const secret = this.#secrets.get(secretId);
    if (!secret) fail(Status.NOT_FOUND, `Secret ${secretId} not found`);
    this.#secrets.delete(secretId);
    if (secret.name) this.#secretIdsByName.delete(secret.name);
  }

  /** Merges secrets and inline env in order (later wins), as the sandbox or exec sees them. */
  resolveEnvironment(
    secretIds: readonly string[] | undefined,
    secretSources: ReadonlyArray<{ secretId?: string | undefined; env?: { contents?: Record<string, string | undefined> } | undefined }> | undefined,
    inlineEnv?: Record<string, string | undefined>,
  ): Record<string, string> {
    const environment: Record<string, string> = {};
    for (const secretId of secretIds ?? []) Object.assign(environment, this.#secretValues(secretId));
    for (const source of secretSources ?? []) {
      if (source.secretId) Object.assign(environment, this.#secretValues(source.secretId));
      else if (source.env?.contents) assignDefined(environment, source.env.contents);
    }
    assignDefined(environment, inlineEnv ?? {});
    return environment;
  }

  #secretValues(secretId: string): Record<string, string> {
    const secret = this.#secrets.get(secretId);
    if (!secret) fail(Status.NOT_FOUND, `Secret ${secretId} not found`);
    return secret.values;
  }

  /* -------------------------------------------------------------- volumes */

  async volumeGetOrCreate(request: ControlPlaneRequest<"volumeGetOrCreate">): Promise<VolumeRecord> {
    const creationType = request.objectCreationType ?? 0;
    const environmentName = normalizeEnvironment(request.environmentName);
    if (creationType !== ObjectCreationType.ephemeral) {
      const name = request.deploymentName ?? "";
      const existing = this.#volumeIdsByName.get(`${environmentName}/${name}`);
      if (existing) return this.#volumes.get(existing)!;
      if (creationType !== ObjectCreationType.createIfMissing) {
        fail(Status.NOT_FOUND, `Volume '${name}' not found in environment '${environmentName}'`);
      }
      return this.#createVolume(name, environmentName);
    }
    return this.#createVolume(undefined, environmentName);
  }

  async #createVolume(name: string | undefined, environmentName: string): Promise<VolumeRecord> {
    const volumeId = mintObjectId("volume");
    const volume: VolumeRecord = {
      volumeId,
      name,
      environmentName,
      dockerVolumeName: `modal-emulator-${this.#options.instanceId.toLowerCase()}-${volumeId.toLowerCase()}`,
    };
    await this.engine.ensureVolume(volume.dockerVolumeName, {
      ...this.#options.labels,
      [MODAL_OBJECT_LABELS.volumeId]: volumeId,
      ...(name ? { [MODAL_OBJECT_LABELS.volumeName]: name } : {}),
    });
    this.#volumes.set(volumeId, volume);
    if (name) this.#volumeIdsByName.set(`${environmentName}/${name}`, volumeId);
    return volume;
  }

  volume(volumeId: string): VolumeRecord | undefined {
    return this.#volumes.get(volumeId);
  }

  async deleteVolume(volumeId: string): Promise<void> {
    const volume = this.#volumes.get(volumeId);
    if (!volume) fail(Status.NOT_FOUND, `Volume ${volumeId} not found`);
    const inUse = [...this.#sandboxes.values()].some((sandbox) => sandbox.running && sandbox.volumeIds.includes(volumeId));
    if (inUse) fail(Status.FAILED_PRECONDITION, `Volume ${volume.name ?? volumeId} is mounted by a running sandbox`);
    // Ended sandboxes may still be committing to it.
    await Promise.all([...this.#volumeFinalizers].filter(([, sandbox]) => sandbox.volumeIds.includes(volumeId)).map(([finalizer]) => finalizer));
    await this.engine.removeVolume(volume.dockerVolumeName);
    this.#volumes.delete(volumeId);
    if (volume.name) this.#volumeIdsByName.delete(`${volume.environmentName}/${volume.name}`);
  }

  /* ------------------------------------------------------------ sandboxes */

  sandbox(sandboxId: string): SandboxRecord | undefined {
    return this.#sandboxes.get(sandboxId);
  }

  /** The sandbox with this id, or NOT_FOUND. */
  requireSandbox(sandboxId: string): SandboxRecord {
    const sandbox = this.#sandboxes.get(sandboxId);
    if (!sandbox) fail(Status.NOT_FOUND, `Sandbox ${sandboxId} not found`);
    return sandbox;
  }

  sandboxByTask(taskId: string): SandboxRecord | undefined {
    return this.#sandboxesByTask.get(taskId);
  }

  sandboxes(): SandboxRecord[] {
    return [...this.#sandboxes.values()];
  }

  /** Finds a running sandbox by app and name (or the latest finished one when asked). */
  sandboxByName(appId: string, name: string, family: SandboxFamily | undefined, includeTerminated: boolean): SandboxRecord | undefined {
    const matches = [...this.#sandboxes.values()]
      .filter((sandbox) => sandbox.appId === appId && sandbox.name === name && (!family || sandbox.family === family))
      .sort((left, right) => right.createdAtSeconds - left.createdAtSeconds);
    return matches.find((sandbox) => sandbox.running) ?? (includeTerminated ? matches[0] : undefined);
  }

  /**
   * Creates a sandbox: validates the definition, starts a container through
   * the engine, and starts the entrypoint (if any) as an exec.
   */
  async createSandbox(family: SandboxFamily, request: ControlPlaneRequest<"sandboxCreate"> | ControlPlaneRequest<"sandboxCreateV2">): Promise<SandboxRecord> {
    const recorded: RecordedSandboxCreate = { family, request, atMs: Date.now() };
    appendBounded(this.sandboxCreates, recorded);
    let claimedName: string | undefined;
    try {
      const definition = (request.definition ?? {}) as Partial<SandboxDefinition>;
      const app = this.app(request.appId ?? "");
      if (!app) fail(Status.NOT_FOUND, `App ${request.appId} not found`);
      const image = this.images.get(definition.imageId ?? "");
      if (!image) fail(Status.NOT_FOUND, `Image ${definition.imageId} not found`);

      const gpuConfig = definition.resources?.gpuConfig;
      const gpuCount = gpuConfig ? gpuConfig.count || (gpuConfig.gpuType ? 1 : 0) : 0;
      if (gpuCount > 0 && !this.#options.gpuAvailable) {
        fail(
          Status.RESOURCE_EXHAUSTED,
          `GPU ${gpuConfig?.gpuType || "any"}:${gpuCount} requested, but this modal-emulator host has no GPU ` +
            "(start the emulator with gpuAvailable on a host whose Docker engine exposes GPUs).",
        );
      }
      const networkType = definition.networkAccess?.networkAccessType ?? NetworkAccessType.open;
      let allowlist: OutboundAllowlist | undefined;
      if (networkType === NetworkAccessType.allowlist) {
        allowlist = { cidrs: definition.networkAccess?.allowedCidrs ?? [], domains: definition.networkAccess?.allowedDomains ?? [] };
        validateCidrs(allowlist.cidrs);
        const unsupported = await allowlistUnsupportedReason();
        if (unsupported) {
          fail(Status.FAILED_PRECONDITION, `modal-emulator enforces outbound allowlists with iptables in the sandbox's network namespace, but ${unsupported}`);
        }
      }
      if ((definition.openPorts?.ports?.length ?? 0) > 0) {
        fail(Status.INVALID_ARGUMENT, "modal-emulator does not provide tunnels (encryptedPorts, h2Ports, unencryptedPorts)");
      }
      if ((definition.cloudBucketMounts?.length ?? 0) > 0) {
        fail(Status.INVALID_ARGUMENT, "modal-emulator does not support cloud bucket mounts (cloudBucketMounts)");
      }
      validatePlacementAndOptions(definition);
      const readinessProbe = definition.readinessProbe as ProbeDefinition | undefined;
      if (readinessProbe && !(readinessProbe.tcpPort && readinessProbe.tcpPort > 0) && !readinessProbe.execCommand?.argv?.length) {
        fail(Status.INVALID_ARGUMENT, "readinessProbe needs a TCP port or an exec command");
      }
      const ptyInfo = (definition as { ptyInfo?: { enabled?: boolean } }).ptyInfo;
      if (ptyInfo?.enabled) fail(Status.INVALID_ARGUMENT, "modal-emulator does not support a PTY for sandboxes (pty)");
      refuseUnsupportedDefinitionFields(definition as Record<string, unknown>);

      const volumes: NonNullable<ContainerSpec["volumes"]> = [];
      const volumeIds: string[] = [];
      const plannedMounts: Array<{ volume: VolumeRecord; mountPath: string; readOnly: boolean; subPath: string }> = [];
      for (const mount of definition.volumeMounts ?? []) {
        const volume = this.#volumes.get(mount.volumeId ?? "");
        if (!volume) fail(Status.NOT_FOUND, `Volume ${mount.volumeId} not found`);
        const subPath = (mount.subPath ?? "").replace(/^\/+|\/+$/g, "");
        if (subPath.split("/").some((part) => part === ".." || part === ".")) {
          fail(Status.INVALID_ARGUMENT, `Volume subPath '${mount.subPath}' must be a relative path inside the volume, without '.' or '..'`);
        }
        plannedMounts.push({ volume, mountPath: mount.mountPath ?? "", readOnly: mount.readOnly ?? false, subPath });
        volumeIds.push(volume.volumeId);
      }

      const secretSources = "secretSources" in request ? request.secretSources : undefined;
      const environment = this.resolveEnvironment(definition.secretIds, secretSources);

      const name = definition.name || undefined;
      if (name) {
        const key = `${app.appId}/${name}`;
        if (this.#pendingNames.has(key) || this.sandboxByName(app.appId, name, undefined, false)) {
          fail(Status.ALREADY_EXISTS, `Sandbox with name '${name}' already exists in App '${app.name}'`);
        }
        this.#pendingNames.add(key);
        claimedName = key;
      }

      const sandboxId = mintSandboxId(family);
      const taskId = mintObjectId("task");
      const timeoutSecs = definition.timeoutSecs && definition.timeoutSecs > 0 ? definition.timeoutSecs : 300;
      const resources = definition.resources;
      // Limits are hard limits; `cpu` and `memoryMiB` are reservations, as on Modal (set below, after create).
      const milliCpu = resources?.milliCpuMax || 0;
      const memoryMb = resources?.memoryMbMax || 0;
      const reservation = reservationOf(resources?.milliCpu ?? 0, resources?.memoryMb ?? 0, memoryMb);
      const tags = Object.fromEntries((request.tags ?? []).map((tag) => [tag.tagName ?? "", tag.tagValue ?? ""]));
      if (definition.includeOidcIdentityToken) {
        environment.MODAL_IDENTITY_TOKEN = this.oidc.mint({
          workspaceId: this.workspaceId,
          environmentName: app.environmentName,
          appId: app.appId,
          appName: app.name,
          sandboxId,
          lifetimeSeconds: timeoutSecs,
        });
      }
      const spec: ContainerSpec = {
        image: image.dockerImage,
        name: `modal-emulator-${sandboxId}`,
        labels: {
          ...this.#options.labels,
          [MODAL_OBJECT_LABELS.sandboxId]: sandboxId,
          [MODAL_OBJECT_LABELS.appId]: app.appId,
          [LABELS.expiresAt]: String(Date.now() + timeoutSecs * 1000 + CONTAINER_LIFETIME_GRACE_MS),
        },
        env: environment,
        ...(definition.workdir ? { workdir: definition.workdir } : {}),
        ...(milliCpu > 0 ? { cpu: milliCpu / 1000 } : {}),
        ...(memoryMb > 0 ? { memoryMiB: memoryMb } : {}),
        blockNetwork: networkType === NetworkAccessType.blocked,
        volumes,
        lifetimeMs: timeoutSecs * 1000 + CONTAINER_LIFETIME_GRACE_MS,
        ...(gpuCount > 0 ? { gpu: { count: gpuCount, ...(gpuConfig?.gpuType ? { type: gpuConfig.gpuType } : {}) } } : {}),
      };
      // Each sandbox works on its own copy of each volume (Modal's commit/reload visibility; see VolumeSync).
      const volumeMounts: SandboxVolumeMount[] = [];
      let container: Awaited<ReturnType<DockerEngine["createContainer"]>>;
      try {
        for (const [index, planned] of plannedMounts.entries()) {
          const mount = await this.#volumeSync.mount({
            volumeId: planned.volume.volumeId,
            centralVolumeName: planned.volume.dockerVolumeName,
            privateVolumeName: `modal-emulator-${this.#options.instanceId.toLowerCase()}-${sandboxId.toLowerCase()}-${index}`,
            mountPath: planned.mountPath,
            readOnly: planned.readOnly,
            subPath: planned.subPath,
          });
          volumeMounts.push(mount);
          volumes.push({ volumeName: mount.privateVolumeName, mountPath: mount.mountPath, readOnly: mount.readOnly });
        }
        container = await this.engine.createContainer(spec);
        if (reservation) {
          const created = container;
          await created.raw.update(reservation).catch(async (error: unknown) => {
            await created.remove().catch(() => undefined);
            throw error;
          });
        }
        if (allowlist) {
          const created = container;
          await enforceAllowlist(created, allowlist).catch(async (error: unknown) => {
            await created.remove().catch(() => undefined);
            throw error;
          });
        }
      } catch (error) {
        await Promise.all(volumeMounts.map((mount) => this.#volumeSync.unmount(mount)));
        throw error;
      }
      // Strictly increasing creation times keep `beforeTimestamp` paging exact.
      const createdAtSeconds = Math.max(Date.now() / 1000, this.#lastCreatedAtSeconds + 0.000001);
      this.#lastCreatedAtSeconds = createdAtSeconds;
      const sandbox = new SandboxRecord({
        sandboxId,
        taskId,
        family,
        appId: app.appId,
        imageId: image.imageId,
        name,
        tags,
        timeoutSecs,
        idleTimeoutSecs: definition.idleTimeoutSecs && definition.idleTimeoutSecs > 0 ? definition.idleTimeoutSecs : undefined,
        createdAtSeconds,
        container,
        volumeIds,
      });
      sandbox.volumeMounts = volumeMounts;
      this.#sandboxes.set(sandboxId, sandbox);
      this.#sandboxesByTask.set(taskId, sandbox);
      if (volumeMounts.length > 0) {
        // Modal commits a sandbox's volume writes when it ends; then its copy goes.
        const finalizer = sandbox.ended.then(async (result) => {
          // Queued at once (before a later create's mount can queue), so a terminate-then-create sees the commit.
          await Promise.all(volumeMounts.map((mount) => this.#volumeSync.commit(mount).catch(() => undefined)));
          await sandbox.finish(result);
          for (const mount of volumeMounts) await this.#volumeSync.unmount(mount);
        });
        this.#volumeFinalizers.set(finalizer, sandbox);
        void finalizer.finally(() => this.#volumeFinalizers.delete(finalizer));
      }
      sandbox.armLifetime();
      if (readinessProbe) {
        const stopProbe = new AbortController();
        void sandbox.ended.then(() => stopProbe.abort());
        sandbox.readiness = runReadinessProbe(container, readinessProbe, stopProbe.signal);
      }
      void sandbox.ended.then(() => {
        const timer = setTimeout(() => {
          this.#sandboxes.delete(sandboxId);
          this.#sandboxesByTask.delete(taskId);
        }, FINISHED_SANDBOX_RETENTION_MS);
        timer.unref();
      });
      const entrypointArgs = definition.entrypointArgs ?? [];
      if (entrypointArgs.length > 0) await this.#startEntrypoint(sandbox, entrypointArgs);
      recorded.sandboxId = sandboxId;
      return sandbox;
    } catch (error) {
      recorded.refusedReason = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      if (claimedName) this.#pendingNames.delete(claimedName);
    }
  }

  async #startEntrypoint(sandbox: SandboxRecord, argv: string[]): Promise<void> {
    const session = new ExecSession({
      execId: "entrypoint",
      keepStdout: true,
      keepStderr: true,
      stdout: sandbox.entrypointStdout,
      stderr: sandbox.entrypointStderr,
    });
    sandbox.entrypoint = session;
    try {
      const engineExec = await sandbox.container.exec(argv, {
        stdin: true,
        onStdout: (chunk) => session.appendStdout(chunk),
        onStderr: (chunk) => session.appendStderr(chunk),
      });
      session.attachEngineExec(engineExec);
    } catch (error) {
      session.appendStderr(Buffer.from(`modal-emulator: could not start the entrypoint: ${(error as Error).message}\n`));
      session.finish({ code: EXIT_COMMAND_NOT_FOUND });
    }
    void session.finished.then((status) => {
      if (!sandbox.running) return;
      const exitcode = status.code ?? 128 + (status.signal ?? 9);
      void sandbox.finish({
        status: exitcode === 0 ? GenericStatus.success : GenericStatus.failure,
        exitcode,
        exception: exitcode === 0 ? "" : `Sandbox entrypoint exited with code ${exitcode}`,
      });
    });
  }

  /**
   * Names a running sandbox that has never had a name (`experimentalSetName`).
   * @throws ALREADY_EXISTS when a running sandbox of the app holds the name,
   *   FAILED_PRECONDITION when this one is named or finished.
   */
  setSandboxName(sandbox: SandboxRecord, name: string): void {
    if (!name) fail(Status.INVALID_ARGUMENT, "Sandbox names must be non-empty");
    if (sandbox.name) fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} already has the name '${sandbox.name}'`);
    if (!sandbox.running) fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} is no longer running`);
    const key = `${sandbox.appId}/${name}`;
    if (this.#pendingNames.has(key) || this.sandboxByName(sandbox.appId, name, undefined, false)) {
      fail(Status.ALREADY_EXISTS, `Sandbox with name '${name}' already exists in App '${this.app(sandbox.appId)?.name}'`);
    }
    sandbox.name = name;
  }

  /**
   * Waits until the sandbox's readiness probe passes (`SandboxWaitUntilReady`),
   * at most `timeoutMs`.
   * @returns when it became ready (epoch seconds).
   * @throws FAILED_PRECONDITION without a probe or when the sandbox ends first,
   *   DEADLINE_EXCEEDED at the timeout (the SDK retries until its own deadline,
   *   then raises `TimeoutError`).
   */
  async waitUntilReady(sandbox: SandboxRecord, timeoutMs: number, signal: AbortSignal): Promise<number> {
    if (!sandbox.readiness) {
      fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} has no readiness probe: create it with readinessProbe to wait until it is ready`);
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      sandbox.readiness.then((readyAt) => (readyAt === undefined ? ("ended" as const) : readyAt)),
      sandbox.ended.then(() => "ended" as const),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, timeoutMs));
        signal.addEventListener("abort", () => resolve("timeout"), { once: true });
      }),
    ]).finally(() => clearTimeout(timer));
    if (typeof outcome === "number") return outcome;
    if (outcome === "ended") fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} finished before its readiness probe passed`);
    fail(Status.DEADLINE_EXCEEDED, `Sandbox ${sandbox.sandboxId} is not ready yet`);
  }

  /** Publishes the sandbox's writes to its (writable) volumes: `sync` in the sandbox. */
  async commitVolumes(sandbox: SandboxRecord): Promise<void> {
    for (const mount of sandbox.volumeMounts) await this.#volumeSync.commit(mount);
  }

  /** Replaces the sandbox's copies of its volumes with their committed state (`reloadVolumes()`). */
  async reloadVolumes(sandbox: SandboxRecord): Promise<void> {
    for (const mount of sandbox.volumeMounts) await this.#volumeSync.reload(mount);
  }

  /** Ends a sandbox as TERMINATED (idempotent: a finished sandbox keeps its result). */
  async terminate(sandbox: SandboxRecord): Promise<void> {
    await sandbox.finish({ status: GenericStatus.terminated, exitcode: 0, exception: "Sandbox was terminated" });
  }

  /* ---------------------------------------------------------------- execs */

  /**
   * Starts an exec, idempotently per exec id (the SDK retries `TaskExecStart`
   * with the same id). The filesystem helper argv is served host-side.
   */
  async startExec(request: TaskExecStartRequest): Promise<ExecSession> {
    const sandbox = this.sandboxByTask(request.taskId);
    if (!sandbox) fail(Status.NOT_FOUND, `Task ${request.taskId} not found`);
    const existing = sandbox.execs.get(request.execId);
    if (existing) return existing;
    if (!sandbox.running) {
      fail(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished; its task accepts no more execs`);
    }
    if (request.ptyInfo?.enabled) fail(Status.INVALID_ARGUMENT, "modal-emulator does not support PTY execs");
    if (request.containerId) fail(Status.INVALID_ARGUMENT, "modal-emulator does not support sidecar containers");
    const fsRequest = parseFilesystemToolArgv(request.commandArgs);
    appendBounded(this.execStarts, {
      taskId: request.taskId,
      execId: request.execId,
      commandArgs: [...request.commandArgs],
      hostSide: fsRequest !== undefined,
      atMs: Date.now(),
    });
    const session = new ExecSession({
      execId: request.execId,
      keepStdout: request.stdoutConfig === STDIO_PIPE,
      keepStderr: request.stderrConfig === STDIO_PIPE,
      ...(request.timeoutSecs ? { timeoutMs: request.timeoutSecs * 1000 } : {}),
    });
    sandbox.execs.set(request.execId, session);
    sandbox.touch();
    void session.finished.then(() => {
      sandbox.touch();
      const timer = setTimeout(() => sandbox.execs.delete(request.execId), FINISHED_EXEC_RETENTION_MS);
      timer.unref();
    });
    if (fsRequest) {
      this.#filesystemTools.run(sandbox.container, session, fsRequest);
      return session;
    }
    const environment = this.resolveEnvironment(request.secretIds, request.secretSources, request.env);
    if (sandbox.volumeMounts.some((mount) => !mount.readOnly) && SYNC_COMMAND.test(request.commandArgs.join(" "))) {
      this.#runSyncCommit(sandbox, session, request, environment);
      return session;
    }
    try {
      const engineExec = await sandbox.container.exec(request.commandArgs, {
        env: environment,
        ...(request.workdir ? { cwd: request.workdir } : {}),
        stdin: true,
        onStdout: (chunk) => session.appendStdout(chunk),
        onStderr: (chunk) => session.appendStderr(chunk),
      });
      session.attachEngineExec(engineExec);
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      if ((error as { kind?: string }).kind === "not-found") {
        // The engine says 409 both for a stopped container and for a paused one:
        // a paused container still exists and comes back on unpause, so the
        // sandbox must not be ended for it.
        const state = await sandbox.container.inspect().then(
          (info) => info.State,
          () => undefined,
        );
        if (state?.Running === true || state?.Paused === true) {
          session.appendStderr(Buffer.from(`modal-emulator: could not start ${JSON.stringify(request.commandArgs[0])}: the sandbox's container is paused\n`));
          session.finish({ code: 126 });
          // Forgotten, so the SDK's retry of this exec id tries again instead of replaying a failure.
          sandbox.execs.delete(request.execId);
          fail(Status.UNAVAILABLE, `Sandbox ${sandbox.sandboxId} is paused; it accepts execs again once unpaused`);
        }
        // The container is gone (killed from outside, or out of memory): the sandbox has ended.
        session.finish({ signal: SIGKILL });
        void sandbox.finish({ status: GenericStatus.failure, exitcode: EXIT_KILLED, exception: `The sandbox's container is gone: ${message}` });
        fail(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished: its container is gone`);
      }
      session.appendStderr(Buffer.from(`modal-emulator: could not start ${JSON.stringify(request.commandArgs[0])}: ${message}\n`));
      session.finish({ code: /not found|no such file/i.test(message) ? 127 : 126 });
    }
    return session;
  }

  /**
   * `sync` in a sandbox with volumes is how Modal commits them from inside.
   * The emulator cannot see a `sync` system call, so an exec whose command
   * line names `sync` (`["sync", "/vol"]`, or `sh -c "... && sync /vol"`)
   * runs, then the volumes are committed before it reports its exit.
   */
  #runSyncCommit(sandbox: SandboxRecord, session: ExecSession, request: TaskExecStartRequest, environment: Record<string, string>): void {
    void (async () => {
      try {
        const started = await sandbox.container.exec(request.commandArgs, {
          env: environment,
          ...(request.workdir ? { cwd: request.workdir } : {}),
          stdin: true,
          onStdout: (chunk) => session.appendStdout(chunk),
          onStderr: (chunk) => session.appendStderr(chunk),
        });
        const stdin = started.stdin;
        session.attachHostOperation(
          stdin
            ? {
                write: (chunk) => new Promise<void>((resolve) => (stdin.destroyed || stdin.writableEnded ? resolve() : stdin.write(chunk, () => resolve()))),
                end: () => {
                  if (!stdin.destroyed && !stdin.writableEnded) stdin.end();
                },
              }
            : undefined,
          async () => {
            await started.kill();
            session.finish({ signal: 9 });
          },
        );
        const { exitCode } = await started.done;
        if (exitCode === 0) await this.commitVolumes(sandbox);
        session.finish(exitCode === null ? { signal: 9 } : { code: exitCode });
      } catch (error) {
        session.appendStderr(Buffer.from(`sync: ${(error as Error).message ?? String(error)}\n`));
        session.finish({ code: 1 });
      }
    })();
  }

  /** The exec with this id in this task, or NOT_FOUND. */
  requireExec(taskId: string, execId: string): ExecSession {
    const sandbox = this.sandboxByTask(taskId);
    if (!sandbox) fail(Status.NOT_FOUND, `Task ${taskId} not found`);
    const session = sandbox.execs.get(execId);
    if (!session) fail(Status.NOT_FOUND, `Exec ${execId} not found in task ${taskId}`);
    return session;
  }

  /* ------------------------------------------------------------- shutdown */

  /** Ends every sandbox and removes every container, volume and image this emulator created. */
  async shutdown(): Promise<void> {
    await Promise.all(this.sandboxes().map((sandbox) => this.terminate(sandbox)));
    await Promise.all([...this.#volumeFinalizers.keys()]);
    const leftovers = await this.engine.listContainers({ [INSTANCE_LABEL]: this.#options.instanceId }).catch(() => []);
    await Promise.all(
      leftovers.map(async (container) => {
        const handle = this.engine.container(container.id);
        await handle.stop().catch(() => undefined);
        await handle.remove().catch(() => undefined);
      }),
    );
    for (const volume of this.#volumes.values()) {
      await this.engine.removeVolume(volume.dockerVolumeName).catch(() => undefined);
    }
    // Sandboxes' private volume copies left by a failed clean-up.
    const leftoverVolumes = await this.engine.listVolumes({ "dev.sandbox.modal-emulator.instance": this.#options.instanceId }).catch(() => []);
    await Promise.all(leftoverVolumes.map((volume) => this.engine.removeVolume(volume.name).catch(() => undefined)));
    this.#volumes.clear();
    for (const image of this.images.builtImages()) {
      await this.engine.docker
        .getImage(image.dockerImage)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }
}
