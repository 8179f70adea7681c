import { PassThrough } from "node:stream";
import type { DockerEngine, EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { ImageRecord, ImageResolver } from "./image-resolver.js";
import { failSandboxCommand, runInSandbox } from "./mount-namespace.js";

/** How soon removing an expired image that is still in use is tried again. */
const REMOVE_RETRY_MS = 1000;
/** `ttlSeconds` meaning "never expires". */
const NO_EXPIRY = -1;
/** Longest TTL a timer holds (setTimeout's limit is about 24.8 days); longer ones are checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `snapshotDirectory` on Docker: the directory, as the sandbox sees it
 * (mounted images included), archived by the sandbox's own `tar` (an
 * ordinary exec) and imported as a new local image whose root is the
 * directory's content. The image carries the emulator's labels, can be
 * mounted (`mountImage`) or run as a sandbox image, and is removed when its
 * TTL is over (an id then no longer resolves) and at shutdown.
 */
export class DirectorySnapshots {
  readonly #engine: DockerEngine;
  readonly #images: ImageResolver;
  readonly #labels: Record<string, string>;
  readonly #repository: string;
  /** Snapshot id (the SDK's idempotency key) -> the image made for it. */
  readonly #bySnapshotId = new Map<string, Promise<ImageRecord>>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: { engine: DockerEngine; images: ImageResolver; labels: Record<string, string>; instanceId: string }) {
    this.#engine = options.engine;
    this.#images = options.images;
    this.#labels = options.labels;
    this.#repository = `modal-emulator-directory-${options.instanceId.toLowerCase()}`;
  }

  /**
   * Snapshots `path` of the running `container` into a new image that lives
   * `ttlSeconds` (-1: until shutdown). A retried request (same `snapshotId`)
   * gets the same image.
   */
  snapshot(container: EngineContainer, path: string, snapshotId: string, ttlSeconds: number | undefined): Promise<ImageRecord> {
    if (ttlSeconds !== undefined && ttlSeconds !== NO_EXPIRY && !(Number.isInteger(ttlSeconds) && ttlSeconds > 0)) {
      fail(Status.INVALID_ARGUMENT, `ttlSeconds must be a positive number of seconds or -1 (no expiry), got ${ttlSeconds}`);
    }
    const known = snapshotId ? this.#bySnapshotId.get(snapshotId) : undefined;
    if (known) return known;
    const pending = this.#create(container, path, ttlSeconds);
    if (snapshotId) {
      this.#bySnapshotId.set(snapshotId, pending);
      pending.catch(() => this.#bySnapshotId.delete(snapshotId));
    }
    return pending;
  }

  /** Stops the TTL timers (the images go with the emulator's other images). */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  async #create(container: EngineContainer, path: string, ttlSeconds: number | undefined): Promise<ImageRecord> {
    const kind = await runInSandbox(container, ["sh", "-c", 'if [ -d "$1" ]; then exit 0; elif [ -e "$1" ]; then exit 3; else exit 4; fi', "check", path]);
    if (kind.exitCode === 3) fail(Status.INVALID_ARGUMENT, `Cannot snapshot ${path}: it is not a directory`);
    if (kind.exitCode === 4) fail(Status.NOT_FOUND, `Cannot snapshot ${path}: no such directory`);
    if (kind.exitCode !== 0) failSandboxCommand(kind, "sh", `check ${path}`);
    const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const reference = `${this.#repository}:${tag}`;
    const archive = new PassThrough();
    const imported = this.#engine.docker
      .importImage(archive, {
        repo: this.#repository,
        tag,
        changes: Object.entries(this.#labels).map(([key, value]) => `LABEL ${JSON.stringify(key)}=${JSON.stringify(value)}`),
      })
      .then(
        (stream: NodeJS.ReadableStream) =>
          new Promise<void>((resolve, reject) => {
            this.#engine.docker.modem.followProgress(stream, (error: Error | null, output: Array<{ error?: string }>) => {
              const failure = error?.message ?? output?.find((item) => item.error)?.error;
              if (failure) reject(new Error(failure));
              else resolve();
            });
          }),
      );
    const archived = await runInSandbox(container, ["tar", "-c", "-f", "-", "-C", path, "."], { stdout: archive });
    archive.end();
    if (archived.exitCode !== 0) {
      archive.destroy();
      await imported.catch(() => undefined);
      await this.#engine.docker
        .getImage(reference)
        .remove({ force: true })
        .catch(() => undefined);
      failSandboxCommand(archived, "tar", `archive ${path}`);
    }
    await imported.catch((error: unknown) =>
      fail(Status.INTERNAL, `modal-emulator could not import the snapshot of ${path}: ${error instanceof Error ? error.message : String(error)}`),
    );
    const image = this.#images.register(reference, true);
    if (ttlSeconds !== undefined && ttlSeconds !== NO_EXPIRY) this.#expireAt(image, Date.now() + ttlSeconds * 1000);
    return image;
  }

  /** Removes an expired image; while a container still uses it (a mount being filled), tries again later. */
  async #removeWhenUnused(dockerImage: string): Promise<void> {
    const removed = await this.#engine.docker
      .getImage(dockerImage)
      .remove()
      .then(
        () => true,
        (error: { statusCode?: number }) => error.statusCode === 404,
      );
    if (removed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#removeWhenUnused(dockerImage);
    }, REMOVE_RETRY_MS);
    timer.unref();
    this.#timers.add(timer);
  }

  /** At `expiresAtMs` the image id stops resolving and the image is removed (as `images.delete` does). */
  #expireAt(image: ImageRecord, expiresAtMs: number): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        if (Date.now() < expiresAtMs) return this.#expireAt(image, expiresAtMs);
        void this.#images.delete(image.imageId).then(() => this.#removeWhenUnused(image.dockerImage));
      },
      Math.min(MAX_TIMER_MS, Math.max(0, expiresAtMs - Date.now())),
    );
    timer.unref();
    this.#timers.add(timer);
  }
}
