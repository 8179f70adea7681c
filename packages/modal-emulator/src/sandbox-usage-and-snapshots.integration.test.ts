import type { Image } from "modal";
import { Status } from "nice-grpc";
import { beforeAll, describe, expect, it } from "vitest";
import { engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";
import { GenericStatus } from "./sandbox-record.js";

/*
 * The control-plane RPCs the SDK 0.11.1 does not call (issue 11):
 * SandboxGetResourceUsage and SandboxSnapshotFs / SandboxSnapshotFsAsync /
 * SandboxSnapshotFsAsyncGet, called through the SDK's own raw gRPC client
 * (`cpClient`, the bundled definitions) against the emulator and real
 * containers.
 */

describe.runIf(engineReachable)("resource usage and filesystem snapshots over raw control-plane RPCs (Docker engine)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-usage-snapshots" });
  let alpine: Image;

  beforeAll(async () => {
    alpine = emu.image("alpine:3.21");
  }, 120_000);

  describe("SandboxSnapshotFs, SandboxSnapshotFsAsync and SandboxSnapshotFsAsyncGet", () => {
    async function expectMarker(imageId: string, text: string) {
      const restored = emu.track(await emu.modal.sandboxes.create(emu.app, await emu.modal.images.fromId(imageId)));
      expect(await restored.filesystem.readText("/snapshot/marker.txt")).toBe(text);
      await restored.terminate();
    }

    it("snapshots the filesystem into an image id that starts a new sandbox with the file", async () => {
      const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, alpine));
      await sandbox.filesystem.writeText("from SandboxSnapshotFs", "/snapshot/marker.txt");
      const response = await emu.modal.cpClient.sandboxSnapshotFs({ sandboxId: sandbox.sandboxId, timeout: 55 });
      expect(response.result?.status).toBe(GenericStatus.success);
      expect(response.imageId).toMatch(/^im-/);
      await sandbox.terminate();
      await expectMarker(response.imageId, "from SandboxSnapshotFs");
    });

    it("starts a snapshot asynchronously and answers its result by image id", async () => {
      const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, alpine));
      await sandbox.filesystem.writeText("from SandboxSnapshotFsAsync", "/snapshot/marker.txt");
      const { imageId } = await emu.modal.cpClient.sandboxSnapshotFsAsync({ sandboxId: sandbox.sandboxId });
      expect(imageId).toMatch(/^im-/);
      const response = await emu.modal.cpClient.sandboxSnapshotFsAsyncGet({ imageId, timeout: 30 });
      expect(response.imageId).toBe(imageId);
      expect(response.result?.status).toBe(GenericStatus.success);
      await sandbox.terminate();
      await expectMarker(imageId, "from SandboxSnapshotFsAsync");
    });

    it("reports a finished sandbox's snapshot as a FAILURE result, synchronously and asynchronously", async () => {
      const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, alpine));
      await sandbox.terminate();
      const direct = await emu.modal.cpClient.sandboxSnapshotFs({ sandboxId: sandbox.sandboxId, timeout: 55 });
      expect(direct.result).toMatchObject({ status: GenericStatus.failure, exception: expect.stringContaining("already finished") });
      const { imageId } = await emu.modal.cpClient.sandboxSnapshotFsAsync({ sandboxId: sandbox.sandboxId });
      const later = await emu.modal.cpClient.sandboxSnapshotFsAsyncGet({ imageId, timeout: 30 });
      expect(later.result).toMatchObject({ status: GenericStatus.failure, exception: expect.stringContaining("already finished") });
      await expect(emu.modal.images.fromId(imageId)).rejects.toThrow();
    });

    it("answers NOT_FOUND for an unknown sandbox or image id", async () => {
      const notFound = { code: Status.NOT_FOUND };
      await expect(emu.modal.cpClient.sandboxSnapshotFs({ sandboxId: "sb-doesnotexist0000000000", timeout: 5 })).rejects.toMatchObject(notFound);
      await expect(emu.modal.cpClient.sandboxSnapshotFsAsync({ sandboxId: "sb-doesnotexist0000000000" })).rejects.toMatchObject(notFound);
      await expect(emu.modal.cpClient.sandboxSnapshotFsAsyncGet({ imageId: "im-doesnotexist0000000000", timeout: 1 })).rejects.toMatchObject(notFound);
    });
  });
});
