import type { EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { mountPathOf } from "./directory-mounts.js";
import type { EmulatorState } from "./emulator-state.js";
import { fail } from "./grpc-errors.js";

interface DirectoryRequest {
  taskId: string;
  path: Uint8Array;
  /** Empty: the sandbox's main container; else a sidecar's. */
  containerId: string;
}

/**
 * The task command router's directory methods: `mountImage`,
 * `unmountImage` and `snapshotDirectory`, for the main container or a sidecar.
 */
export function createDirectoryHandlers(state: EmulatorState) {
  const containerOf = (request: DirectoryRequest): EngineContainer => {
    const sandbox = state.sandboxes.byTask(request.taskId);
    if (!sandbox) fail(Status.NOT_FOUND, `Task ${request.taskId} not found`);
    if (!sandbox.running) fail(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished`);
    return state.containerOf(sandbox, request.containerId);
  };

  return {
    async taskMountDirectory(request: DirectoryRequest & { imageId: string }) {
      const container = containerOf(request);
      const path = mountPathOf(request.path, "mountImage");
      let dockerImage: string | undefined;
      if (request.imageId) {
        const image = state.images.get(request.imageId);
        if (!image) fail(Status.NOT_FOUND, `Could not find image with ID ${request.imageId}`);
        dockerImage = image.dockerImage;
      }
      await state.directoryMounts.mount(container, path, dockerImage);
      return {};
    },

    async taskUnmountDirectory(request: DirectoryRequest) {
      const container = containerOf(request);
      await state.directoryMounts.unmount(container, mountPathOf(request.path, "unmountImage"));
      return {};
    },

    async taskSnapshotDirectory(request: DirectoryRequest & { snapshotId: string; ttlSeconds?: number }) {
      const container = containerOf(request);
      const path = Buffer.from(request.path ?? []).toString("utf8");
      if (!path.startsWith("/")) fail(Status.INVALID_ARGUMENT, `snapshotDirectory: path must be absolute, got ${JSON.stringify(path)}`);
      const image = await state.directorySnapshots.snapshot(container, path, request.snapshotId, request.ttlSeconds);
      return { imageId: image.imageId };
    },
  };
}
