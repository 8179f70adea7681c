import type { DockerEngine } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { normalizeEnvironment } from "./app-store.js";
import { MODAL_OBJECT_LABELS } from "./emulator-labels.js";
import { fail } from "./grpc-errors.js";
import type { ControlPlaneRequest } from "./modal-sdk-definitions.js";
import { mintObjectId } from "./object-ids.js";
import { checkObjectName } from "./object-names.js";
import { ObjectCreationType } from "./protocol-values.js";

/** A Modal volume, backed by one Docker volume. */
export interface VolumeRecord {
  volumeId: string;
  name: string | undefined;
  environmentName: string;
  dockerVolumeName: string;
}

/** Who uses a volume right now: whether a running sandbox mounts it, and commits of ended ones still running. */
export interface VolumeUsage {
  mountedByRunningSandbox: boolean;
  pendingCommits: Promise<void>[];
}

export interface VolumeStoreOptions {
  engine: DockerEngine;
  instanceId: string;
  /** Labels on every Docker volume created. */
  labels: Record<string, string>;
  /** Who uses a volume (asked before deleting it). */
  usage: (volumeId: string) => VolumeUsage;
}

/** Volumes by id and by environment and name, each backed by a Docker volume. */
export class VolumeStore {
  readonly #options: VolumeStoreOptions;
  readonly #byId = new Map<string, VolumeRecord>();
  readonly #idsByName = new Map<string, string>();

  constructor(options: VolumeStoreOptions) {
    this.#options = options;
  }

  /** `VolumeGetOrCreate`: an ephemeral volume, or a named one (created when asked). */
  async getOrCreate(request: ControlPlaneRequest<"volumeGetOrCreate">): Promise<VolumeRecord> {
    const creationType = request.objectCreationType ?? 0;
    const environmentName = normalizeEnvironment(request.environmentName);
    if (creationType === ObjectCreationType.ephemeral) return this.#create(undefined, environmentName);
    const name = request.deploymentName ?? "";
    const existing = this.#idsByName.get(`${environmentName}/${name}`);
    if (existing) return this.#byId.get(existing)!;
    if (creationType !== ObjectCreationType.createIfMissing) fail(Status.NOT_FOUND, `Volume '${name}' not found in environment '${environmentName}'`);
    checkObjectName(name, "Volume");
    return this.#create(name, environmentName);
  }

  get(volumeId: string): VolumeRecord | undefined {
    return this.#byId.get(volumeId);
  }

  all(): VolumeRecord[] {
    return [...this.#byId.values()];
  }

  /** Deletes a volume no running sandbox mounts, once ended sandboxes' commits to it are done. */
  async delete(volumeId: string): Promise<void> {
    const volume = this.#byId.get(volumeId);
    if (!volume) fail(Status.NOT_FOUND, `Volume ${volumeId} not found`);
    const usage = this.#options.usage(volumeId);
    if (usage.mountedByRunningSandbox) fail(Status.FAILED_PRECONDITION, `Volume ${volume.name ?? volumeId} is mounted by a running sandbox`);
    await Promise.all(usage.pendingCommits);
    await this.#options.engine.removeVolume(volume.dockerVolumeName);
    this.#forget(volume);
  }

  /** Removes every Docker volume behind the store (shutdown); errors are ignored. */
  async removeAll(): Promise<void> {
    for (const volume of this.#byId.values()) {
      await this.#options.engine.removeVolume(volume.dockerVolumeName).catch(() => undefined);
      this.#forget(volume);
    }
  }

  async #create(name: string | undefined, environmentName: string): Promise<VolumeRecord> {
    const volumeId = mintObjectId("volume");
    const volume: VolumeRecord = {
      volumeId,
      name,
      environmentName,
      dockerVolumeName: `modal-emulator-${this.#options.instanceId.toLowerCase()}-${volumeId.toLowerCase()}`,
    };
    await this.#options.engine.ensureVolume(volume.dockerVolumeName, {
      ...this.#options.labels,
      [MODAL_OBJECT_LABELS.volumeId]: volumeId,
      ...(name ? { [MODAL_OBJECT_LABELS.volumeName]: name } : {}),
    });
    this.#byId.set(volumeId, volume);
    if (name) this.#idsByName.set(`${environmentName}/${name}`, volumeId);
    return volume;
  }

  #forget(volume: VolumeRecord): void {
    this.#byId.delete(volume.volumeId);
    if (volume.name) this.#idsByName.delete(`${volume.environmentName}/${volume.name}`);
  }
}
