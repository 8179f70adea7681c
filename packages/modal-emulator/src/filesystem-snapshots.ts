import type { EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { ImageRecord, ImageResolver } from "./image-resolver.js";
import { mintObjectId } from "./object-ids.js";
import { GenericStatus, type SandboxRecord, type SandboxResult } from "./sandbox-record.js";

/** Longest delay setTimeout holds (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How a filesystem snapshot ended: the image, or why there is none. */
type FilesystemSnapshotOutcome = { ok: true; image: ImageRecord } | { ok: false; message: string };

/**
 * `snapshotFilesystem` on Docker: the container is committed (paused for the
 * moment of the commit) to a local image that the emulator registers under a
 * new image id, so it starts new sandboxes like any other image. Serves the
 * router's `TaskSnapshotFilesystem` (what the SDK calls) and the control
 * plane's `SandboxSnapshotFs` / `SandboxSnapshotFsAsync` /
 * `SandboxSnapshotFsAsyncGet`. The images are removed at shutdown with the
 * other built images.
 */
export class FilesystemSnapshots {
  readonly #images: ImageResolver;
  /** Image id -> its snapshot, started by `start` (kept so `outcome` answers for it later). */
  readonly #started = new Map<string, Promise<FilesystemSnapshotOutcome>>();

  constructor(images: ImageResolver) {
    this.#images = images;
  }

  /** Commits `container` (of `sandbox`) to a new image now. */
  async take(sandbox: SandboxRecord, container: EngineContainer, imageId: string = mintObjectId("image")): Promise<ImageRecord> {
    const repository = `modal-emulator-snapshot-${sandbox.sandboxId.toLowerCase()}`;
    // The image id is unique, so two snapshots of one sandbox never share a tag.
    const tag = imageId.toLowerCase();
    await container.raw.commit({ repo: repository, tag, pause: true });
    return this.#images.register(`${repository}:${tag}`, true, imageId);
  }

  /**
   * Starts a snapshot of the sandbox's main container and returns the id its
   * image will have. A sandbox that has finished has no filesystem left: its
   * snapshot fails (reported by {@link outcome}).
   */
  start(sandbox: SandboxRecord): string {
    const imageId = mintObjectId("image");
    const snapshot: Promise<FilesystemSnapshotOutcome> = sandbox.running
      ? this.take(sandbox, sandbox.container, imageId).then(
          (image) => ({ ok: true, image }),
          (error: unknown) => ({
            ok: false,
            message: `Filesystem snapshot of sandbox ${sandbox.sandboxId} failed: ${error instanceof Error ? error.message : String(error)}`,
          }),
        )
      : Promise.resolve({ ok: false, message: `Sandbox ${sandbox.sandboxId} has already finished: its filesystem can no longer be snapshotted` });
    this.#started.set(imageId, snapshot);
    return imageId;
  }

  /**
   * The outcome of the snapshot whose image is `imageId`, waiting for it at
   * most `timeoutMs` (or until `signal` aborts): `undefined` while it still
   * runs. An image id the emulator knows but did not snapshot is a finished
   * image (success).
   * @throws NOT_FOUND for an unknown image id.
   */
  async outcome(imageId: string, timeoutMs: number, signal?: AbortSignal): Promise<FilesystemSnapshotOutcome | undefined> {
    const snapshot = this.#started.get(imageId);
    if (!snapshot) {
      const image = this.#images.get(imageId);
      if (!image) fail(Status.NOT_FOUND, `Could not find image with ID ${imageId}`);
      return { ok: true, image };
    }
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      // Longer than a timer can hold (or unbounded): only the snapshot or the signal ends the wait.
      if (timeoutMs <= MAX_TIMER_MS) timer = setTimeout(() => resolve(undefined), Math.max(0, timeoutMs));
      onAbort = () => resolve(undefined);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([snapshot, timedOut]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Waits for every started snapshot, so shutdown removes their images too. */
  async drain(): Promise<void> {
    await Promise.all(this.#started.values());
  }
}

/** The `GenericResult` of a `SandboxSnapshotFsResponse` for an outcome (`undefined`: still running, no result yet). */
export function snapshotResultOf(outcome: FilesystemSnapshotOutcome | undefined): Pick<SandboxResult, "status" | "exception"> | undefined {
  if (!outcome) return undefined;
  return outcome.ok ? { status: GenericStatus.success, exception: "" } : { status: GenericStatus.failure, exception: outcome.message };
}
