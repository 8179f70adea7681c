import type { ContainerSpec, DockerEngine, EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { AppStore } from "./app-store.js";
import { ConnectProxy } from "./connect-proxy.js";
import { DirectoryMounts } from "./directory-mounts.js";
import { DirectorySnapshots } from "./directory-snapshots.js";
import { checkConntrackReadable, EGRESS_TRUST_ENVIRONMENT, type EgressHandle, EgressProxy, installEgressTrust } from "./egress-proxy.js";
import { INSTANCE_LABEL } from "./emulator-labels.js";
import { FilesystemSnapshots } from "./filesystem-snapshots.js";
import { DEFAULT_MAX_READ_FILE_BYTES, FilesystemToolServer } from "./filesystem-tools.js";
import { fail } from "./grpc-errors.js";
import { I6pnNetwork } from "./i6pn-network.js";
import { ImageResolver } from "./image-resolver.js";
import { appendBounded, type RecordedExecStart, type RecordedSandboxCreate } from "./inspection-log.js";
import { createLocalCertificateAuthority } from "./local-ca.js";
import type { ControlPlaneRequest, SandboxDefinition, TaskExecStartRequest } from "./modal-sdk-definitions.js";
import { enforceAllowlist, redirectOpenEgress } from "./network-policy.js";
import { mintObjectId, mintSandboxId, randomBase62 } from "./object-ids.js";
import { OidcTokenIssuer } from "./oidc-tokens.js";
import { resolveOutboundPolicy } from "./outbound-policy.js";
import { PublishedImages } from "./published-images.js";
import { runReadinessProbe } from "./readiness-probe.js";
import { checkSandboxDefinition, containerSpecOf, type PlannedVolumeMount, planVolumeMounts, reservationOf } from "./sandbox-definition.js";
import { SandboxExecs } from "./sandbox-execs.js";
import { GenericStatus, type SandboxFamily, SandboxRecord } from "./sandbox-record.js";
import { SandboxStore } from "./sandbox-store.js";
import { TunnelServer } from "./sandbox-tunnels.js";
import { SecretStore } from "./secret-store.js";
import { Sidecars } from "./sidecars.js";
import { VerboseLog } from "./verbose-log.js";
import { VolumeStore } from "./volume-store.js";
import { type SandboxVolumeMount, VolumeSync } from "./volume-sync.js";

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
  /** CA certificates (PEM) the egress proxy trusts for destinations, besides Node's roots. */
  egressTrustedCertificates?: readonly string[];
  onProgress?: (line: string) => void;
}

/**
 * Everything the emulator knows, and the sandbox lifecycle that ties it
 * together: the stores (apps, secrets, volumes, images, sandboxes), the execs,
 * and the Docker resources behind them. The gRPC services are thin
 * translations onto this.
 */
export class EmulatorState {
  readonly engine: DockerEngine;
  readonly apps = new AppStore();
  readonly secrets = new SecretStore();
  readonly volumes: VolumeStore;
  readonly images: ImageResolver;
  readonly sandboxes = new SandboxStore();
  readonly execs: SandboxExecs;
  /** Images mounted into running sandboxes (`mountImage`). */
  readonly directoryMounts: DirectoryMounts;
  /** Images made from sandbox directories (`snapshotDirectory`), with their TTLs. */
  readonly directorySnapshots: DirectorySnapshots;
  /** Images made from whole sandbox filesystems (`snapshotFilesystem`, `SandboxSnapshotFs*`). */
  readonly filesystemSnapshots: FilesystemSnapshots;
  /** Named images (`image.publish`, `images.fromName`). */
  readonly publishedImages: PublishedImages;
  /** Sidecar containers of sandboxes (`experimentalSidecars`). */
  readonly sidecars: Sidecars;
  /** This emulator's CA and the certificate its TLS tunnels present (local-ca.ts). */
  readonly tunnelCa = createLocalCertificateAuthority();
  /** The authenticating HTTPS proxy connect tokens open (`createConnectToken`), with the tunnels' certificate. */
  readonly connectProxy = new ConnectProxy(this.tunnelCa);
  /** The listeners behind `encryptedPorts`, `h2Ports` and `unencryptedPorts` (sandbox-tunnels.ts). */
  readonly tunnels = new TunnelServer(this.tunnelCa);
  /** Applies `experimentalOutboundPolicy` header replacements to sandboxes' outbound HTTPS (egress-proxy.ts). */
  readonly egress: EgressProxy;
  /** The egress registration of each sandbox created with an outbound policy. */
  readonly #egressHandles = new WeakMap<SandboxRecord, EgressHandle>();
  /** Modal's private IPv6 network between sandboxes, for those created with `i6pn`. */
  readonly i6pn: I6pnNetwork;
  /** Logs the lifecycle of sandboxes created with `verbose`. */
  readonly verboseLog: VerboseLog;
  /** Inspection logs, for tests to assert on. */
  readonly sandboxCreates: RecordedSandboxCreate[] = [];
  readonly execStarts: RecordedExecStart[] = [];
  /** Signs the `MODAL_IDENTITY_TOKEN` of sandboxes created with `includeOidcIdentityToken`. */
  readonly oidc = new OidcTokenIssuer();
  /** The workspace id identity tokens name (one per emulator, Modal's `ac-` shape). */
  readonly workspaceId = `ac-${randomBase62(22)}`;
  readonly #options: EmulatorStateOptions;
  readonly #volumeSync: VolumeSync;
  /** Commits and private-copy removals of ended sandboxes still running; shutdown waits for them. */
  readonly #volumeFinalizers = new Map<Promise<void>, SandboxRecord>();
  #lastCreatedAtSeconds = 0;

  constructor(options: EmulatorStateOptions) {
    this.#options = options;
    this.verboseLog = new VerboseLog(options.onProgress);
    this.egress = new EgressProxy({ ca: this.tunnelCa, trustedCertificates: options.egressTrustedCertificates ?? [], log: options.onProgress });
    this.i6pn = new I6pnNetwork(options.engine, options.labels, options.instanceId);
    this.engine = options.engine;
    this.#volumeSync = new VolumeSync(options.engine, options.labels, options.volumeHelperImage);
    this.volumes = new VolumeStore({
      engine: options.engine,
      instanceId: options.instanceId,
      labels: options.labels,
      usage: (volumeId) => ({
        mountedByRunningSandbox: this.sandboxes.all().some((sandbox) => sandbox.running && sandbox.volumeIds.includes(volumeId)),
        pendingCommits: [...this.#volumeFinalizers].filter(([, sandbox]) => sandbox.volumeIds.includes(volumeId)).map(([finalizer]) => finalizer),
      }),
    });
    this.images = new ImageResolver({
      engine: options.engine,
      aliases: options.imageAliases,
      labels: options.labels,
      imageRepository: `modal-emulator-image-${options.instanceId.toLowerCase()}`,
      onProgress: options.onProgress,
    });
    this.directoryMounts = new DirectoryMounts(options.engine, options.labels);
    this.sidecars = new Sidecars(options.engine, options.labels, {
      mount: (ownerId, planned) => this.#mountVolumeCopies(ownerId, planned),
      commit: (mounts) => this.#commitMounts(mounts),
      unmount: async (mounts) => {
        for (const mount of mounts) await this.#volumeSync.unmount(mount);
      },
    });
    this.publishedImages = new PublishedImages(this.images);
    this.filesystemSnapshots = new FilesystemSnapshots(this.images);
    this.directorySnapshots = new DirectorySnapshots({ engine: options.engine, images: this.images, labels: options.labels, instanceId: options.instanceId });
    this.execs = new SandboxExecs({
      sandboxes: this.sandboxes,
      secrets: this.secrets,
      filesystemTools: new FilesystemToolServer(options.maxReadFileBytes ?? DEFAULT_MAX_READ_FILE_BYTES, (container) =>
        this.directoryMounts.namespaceMountsOf(container),
      ),
      volumeMountsOf: (sandbox, containerId) => (containerId ? this.sidecars.require(sandbox, containerId).volumeMounts : sandbox.volumeMounts),
      commitVolumes: (mounts) => this.#commitMounts(mounts),
      containerOf: (sandbox, containerId) => this.containerOf(sandbox, containerId),
      execStarts: this.execStarts,
      onExecStart: (sandbox, argv, session, containerId) => this.verboseLog.exec(sandbox, argv, session, containerId),
    });
    for (const [name, values] of Object.entries(options.secrets)) this.secrets.putNamed(name, values);
  }

  /**
   * Creates a sandbox: checks the definition, claims its name, starts a
   * container (with private copies of its volumes), and starts the
   * entrypoint (if any) as an exec.
   */
  async createSandbox(family: SandboxFamily, request: ControlPlaneRequest<"sandboxCreate"> | ControlPlaneRequest<"sandboxCreateV2">): Promise<SandboxRecord> {
    const recorded: RecordedSandboxCreate = { family, request, atMs: Date.now() };
    appendBounded(this.sandboxCreates, recorded);
    let releaseName: (() => void) | undefined;
    let egress: EgressHandle | undefined;
    try {
      const definition = (request.definition ?? {}) as Partial<SandboxDefinition>;
      const app = this.apps.get(request.appId ?? "");
      if (!app) fail(Status.NOT_FOUND, `App ${request.appId} not found`);
      const image = this.images.get(definition.imageId ?? "");
      if (!image) fail(Status.NOT_FOUND, `Could not find image with ID ${definition.imageId}`);
      const checked = await checkSandboxDefinition(definition, { gpuAvailable: this.#options.gpuAvailable });
      const plannedMounts = planVolumeMounts(definition, (volumeId) => this.volumes.get(volumeId));
      const environment = this.secrets.resolveEnvironment(definition.secretIds, "secretSources" in request ? request.secretSources : undefined);
      // Resolved now (secret values substituted): a missing secret or key refuses the create.
      const outboundPolicy = checked.outboundPolicy ? resolveOutboundPolicy(checked.outboundPolicy, (secretId) => this.secrets.valuesOf(secretId)) : undefined;
      if (outboundPolicy) {
        for (const [name, value] of Object.entries(EGRESS_TRUST_ENVIRONMENT)) environment[name] ??= value;
      }
      const name = definition.name || undefined;
      if (name) releaseName = this.sandboxes.claimName(app.appId, app.name, name);

      const sandboxId = mintSandboxId(family);
      if (definition.includeOidcIdentityToken) {
        environment.MODAL_IDENTITY_TOKEN = this.oidc.mint({
          workspaceId: this.workspaceId,
          environmentName: app.environmentName,
          appId: app.appId,
          appName: app.name,
          sandboxId,
          lifetimeSeconds: checked.timeoutSecs,
        });
      }
      const reservation = reservationOf(definition);
      const { container, volumeMounts } = await this.#startContainer(
        sandboxId,
        plannedMounts,
        (volumes) =>
          containerSpecOf({
            sandboxId,
            appId: app.appId,
            dockerImage: image.dockerImage,
            definition,
            checked,
            environment,
            labels: this.#options.labels,
            volumes,
            nowMs: Date.now(),
          }),
        async (created) => {
          if (reservation) await created.raw.update(reservation);
          if (outboundPolicy) {
            const info = await created.inspect();
            const network = Object.values(info.NetworkSettings?.Networks ?? {}).find((entry) => entry?.IPAddress && entry.Gateway);
            if (!network || !info.State?.Pid)
              fail(Status.FAILED_PRECONDITION, "modal-emulator found no bridge address for the sandbox: its egress cannot be redirected");
            egress = await this.egress.register(sandboxId, info.State.Pid, { address: network.IPAddress, gateway: network.Gateway }, outboundPolicy);
            if (checked.allowlist) await enforceAllowlist(created, checked.allowlist, { egress: egress.redirect });
            else await redirectOpenEgress(created, egress.redirect);
            await checkConntrackReadable(info.State.Pid);
            await installEgressTrust(created, this.tunnelCa.caPem);
          } else if (checked.allowlist) await enforceAllowlist(created, checked.allowlist);
          if (checked.i6pn) await this.i6pn.join(created);
        },
      );
      // Strictly increasing creation times keep `beforeTimestamp` paging exact.
      const createdAtSeconds = Math.max(Date.now() / 1000, this.#lastCreatedAtSeconds + 0.000001);
      this.#lastCreatedAtSeconds = createdAtSeconds;
      const sandbox = new SandboxRecord({
        sandboxId,
        taskId: mintObjectId("task"),
        family,
        appId: app.appId,
        imageId: image.imageId,
        name,
        tags: Object.fromEntries((request.tags ?? []).map((tag) => [tag.tagName ?? "", tag.tagValue ?? ""])),
        timeoutSecs: checked.timeoutSecs,
        idleTimeoutSecs: checked.idleTimeoutSecs,
        createdAtSeconds,
        container,
        volumeIds: plannedMounts.map((mount) => mount.volume.volumeId),
      });
      sandbox.volumeMounts = volumeMounts;
      sandbox.openPorts = checked.openPorts;
      if (egress) {
        const handle = egress;
        this.#egressHandles.set(sandbox, handle);
        void sandbox.ended.then(() => handle.release());
      }
      this.sandboxes.add(sandbox);
      sandbox.usage.start();
      await this.tunnels.open(sandbox, checked.openPorts, checked.inboundCidrs);
      if (definition.verbose) {
        this.verboseLog.enable(sandbox, `app ${app.appId}, image ${image.dockerImage}, entrypoint ${JSON.stringify(definition.entrypointArgs ?? [])}`);
      }
      void sandbox.ended.then(() => this.directoryMounts.forget(container));
      this.#commitVolumesWhenEnded(sandbox);
      sandbox.armLifetime();
      if (checked.readinessProbe) {
        const stopProbe = new AbortController();
        void sandbox.ended.then(() => stopProbe.abort());
        sandbox.readiness = runReadinessProbe(container, checked.readinessProbe, stopProbe.signal);
      }
      const entrypointArgs = definition.entrypointArgs ?? [];
      if (entrypointArgs.length > 0) await this.execs.startEntrypoint(sandbox, entrypointArgs, definition.ptyInfo as TaskExecStartRequest["ptyInfo"]);
      recorded.sandboxId = sandboxId;
      return sandbox;
    } catch (error) {
      recorded.refusedReason = error instanceof Error ? error.message : String(error);
      egress?.release();
      throw error;
    } finally {
      releaseName?.();
    }
  }

  /**
   * Mounts a private copy of each volume (Modal's commit/reload visibility;
   * see VolumeSync), creates the container and applies what can only be set
   * on a created one; on failure the container and the copies go.
   */
  async #startContainer(
    sandboxId: string,
    plannedMounts: PlannedVolumeMount[],
    specOf: (volumes: NonNullable<ContainerSpec["volumes"]>) => ContainerSpec,
    configure: (container: EngineContainer) => Promise<void>,
  ): Promise<{ container: EngineContainer; volumeMounts: SandboxVolumeMount[] }> {
    const volumeMounts = await this.#mountVolumeCopies(sandboxId, plannedMounts);
    try {
      const volumes = volumeMounts.map((mount) => ({ volumeName: mount.privateVolumeName, mountPath: mount.mountPath, readOnly: mount.readOnly }));
      const container = await this.engine.createContainer(specOf(volumes));
      await configure(container).catch(async (error: unknown) => {
        await container.remove().catch(() => undefined);
        throw error;
      });
      return { container, volumeMounts };
    } catch (error) {
      await Promise.all(volumeMounts.map((mount) => this.#volumeSync.unmount(mount)));
      throw error;
    }
  }

  /** Mounts a private copy of each volume for the container `ownerId` (a sandbox or a sidecar): all of them, or none. */
  async #mountVolumeCopies(ownerId: string, plannedMounts: PlannedVolumeMount[]): Promise<SandboxVolumeMount[]> {
    const volumeMounts: SandboxVolumeMount[] = [];
    try {
      for (const [index, planned] of plannedMounts.entries()) {
        volumeMounts.push(
          await this.#volumeSync.mount({
            volumeId: planned.volume.volumeId,
            centralVolumeName: planned.volume.dockerVolumeName,
            privateVolumeName: `modal-emulator-${this.#options.instanceId.toLowerCase()}-${ownerId.toLowerCase()}-${index}`,
            mountPath: planned.mountPath,
            readOnly: planned.readOnly,
            subPath: planned.subPath,
          }),
        );
      }
      return volumeMounts;
    } catch (error) {
      await Promise.all(volumeMounts.map((mount) => this.#volumeSync.unmount(mount)));
      throw error;
    }
  }

  async #commitMounts(mounts: SandboxVolumeMount[]): Promise<void> {
    for (const mount of mounts) await this.#volumeSync.commit(mount);
  }

  /** Modal commits a sandbox's volume writes when it ends; then its private copies go. */
  #commitVolumesWhenEnded(sandbox: SandboxRecord): void {
    const mounts = sandbox.volumeMounts;
    if (mounts.length === 0) return;
    const finalizer = sandbox.ended.then(async (result) => {
      // Queued at once (before a later create's mount can queue), so a terminate-then-create sees the commit.
      await Promise.all(mounts.map((mount) => this.#volumeSync.commit(mount).catch(() => undefined)));
      await sandbox.finish(result);
      for (const mount of mounts) await this.#volumeSync.unmount(mount);
    });
    this.#volumeFinalizers.set(finalizer, sandbox);
    void finalizer.finally(() => this.#volumeFinalizers.delete(finalizer));
  }

  /**
   * The container a task command targets: the sandbox's main container for
   * an empty `containerId`, else the sidecar with that id.
   */
  containerOf(sandbox: SandboxRecord, containerId: string): EngineContainer {
    if (!containerId) return sandbox.container;
    const sidecar = this.sidecars.require(sandbox, containerId);
    if (sidecar.result) fail(Status.NOT_FOUND, `Container ${containerId} has already finished`);
    return sidecar.container;
  }

  /** The egress registration of a sandbox created with an outbound policy, or `undefined`. */
  egressOf(sandbox: SandboxRecord): EgressHandle | undefined {
    return this.#egressHandles.get(sandbox);
  }

  /** Names a running sandbox that has never had a name (`experimentalSetName`). */
  setSandboxName(sandbox: SandboxRecord, name: string): void {
    this.sandboxes.setName(sandbox, this.apps.get(sandbox.appId)?.name, name);
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

  /** Replaces the copies of its volumes that the sandbox and its running sidecars have with their committed state (`reloadVolumes()`). */
  async reloadVolumes(sandbox: SandboxRecord): Promise<void> {
    const sidecars = this.sidecars.list(sandbox, false).flatMap((sidecar) => sidecar.volumeMounts);
    for (const mount of [...sandbox.volumeMounts, ...sidecars]) await this.#volumeSync.reload(mount);
  }

  /** Ends a sandbox as TERMINATED (idempotent: a finished sandbox keeps its result). */
  async terminate(sandbox: SandboxRecord): Promise<void> {
    await sandbox.finish({ status: GenericStatus.terminated, exitcode: 0, exception: "Sandbox was terminated" });
  }

  /** Ends every sandbox and removes every container, volume and image this emulator created. */
  async shutdown(): Promise<void> {
    this.directorySnapshots.stop();
    await this.connectProxy.close();
    await this.egress.close();
    await this.tunnels.close();
    await Promise.all(this.sandboxes.all().map((sandbox) => this.terminate(sandbox)));
    await this.filesystemSnapshots.drain();
    await Promise.all([...this.#volumeFinalizers.keys()]);
    await this.sidecars.drain();
    const leftovers = await this.engine.listContainers({ [INSTANCE_LABEL]: this.#options.instanceId }).catch(() => []);
    await Promise.all(
      leftovers.map(async (container) => {
        const handle = this.engine.container(container.id);
        await handle.stop().catch(() => undefined);
        await handle.remove().catch(() => undefined);
      }),
    );
    await this.i6pn.remove();
    await this.volumes.removeAll();
    // Sandboxes' private volume copies left by a failed clean-up.
    const leftoverVolumes = await this.engine.listVolumes({ [INSTANCE_LABEL]: this.#options.instanceId }).catch(() => []);
    await Promise.all(leftoverVolumes.map((volume) => this.engine.removeVolume(volume.name).catch(() => undefined)));
    for (const image of this.images.builtImages()) {
      await this.engine.docker
        .getImage(image.dockerImage)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }
}
