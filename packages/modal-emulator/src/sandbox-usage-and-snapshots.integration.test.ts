import { cpus } from "node:os";
import type { Image, Sandbox } from "modal";
import { Status } from "nice-grpc";
import { beforeAll, describe, expect, it } from "vitest";
import { engineReachable, run, useModalEmulator } from "../test/support/emulator-harness.js";
import { GenericStatus } from "./sandbox-record.js";

/*
 * The control-plane RPCs the SDK 0.11.1 does not call (issue 11):
 * SandboxGetResourceUsage and SandboxSnapshotFs / SandboxSnapshotFsAsync /
 * SandboxSnapshotFsAsyncGet, called through the SDK's own raw gRPC client
 * (`cpClient`, the bundled definitions) against the emulator and real
 * containers.
 */

const NS_PER_SECOND = 1e9;

describe.runIf(engineReachable)("resource usage and filesystem snapshots over raw control-plane RPCs (Docker engine)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-usage-snapshots" });
  let alpine: Image;
  let python: Image;

  beforeAll(async () => {
    alpine = emu.image("alpine:3.21");
    python = await emu.image("python:3.12-slim").build(emu.app);
  }, 120_000);

  const usageOf = (sandbox: Sandbox) => emu.modal.cpClient.sandboxGetResourceUsage({ sandboxId: sandbox.sandboxId });

  describe("SandboxGetResourceUsage", () => {
    it("counts the CPU time a busy loop of 1 s burns, in core-nanoseconds", async () => {
      const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, python));
      const before = await usageOf(sandbox);
      const startedMs = Date.now();
      const burn = await run(sandbox, ["python3", "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.0: pass"]);
      expect(burn.exitCode).toBe(0);
      const after = await usageOf(sandbox);
      const elapsedNs = (Date.now() - startedMs) * 1e6;
      const burned = after.cpuCoreNanosecs - before.cpuCoreNanosecs;
      expect(burned).toBeGreaterThanOrEqual(0.5 * NS_PER_SECOND);
      expect(burned).toBeLessThanOrEqual(elapsedNs * cpus().length);
      expect(after.gpuNanosecs).toBe(0);
      await sandbox.terminate();
    });

    it("integrates the memory in use over time, in GiB-nanoseconds, and keeps the totals after the sandbox ended", async () => {
      const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, python));
      // 128 MiB written (so resident), held for 6 s.
      const holder = await sandbox.exec(["python3", "-c", "import sys, time\nb = b'x' * (128 << 20)\nprint('ready', flush=True)\ntime.sleep(6)"], {
        mode: "text",
      });
      const reader = holder.stdout.getReader();
      expect(String((await reader.read()).value)).toContain("ready");
      const first = await usageOf(sandbox);
      const firstMs = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const second = await usageOf(sandbox);
      const elapsedSeconds = (Date.now() - firstMs) / 1000;
      const averageGib = (second.memGibNanosecs - first.memGibNanosecs) / NS_PER_SECOND / elapsedSeconds;
      expect(averageGib).toBeGreaterThanOrEqual(0.1);
      expect(averageGib).toBeLessThanOrEqual(0.5);
      reader.releaseLock();

      await sandbox.terminate();
      const ended = await usageOf(sandbox);
      expect(ended.memGibNanosecs).toBeGreaterThanOrEqual(second.memGibNanosecs);
      expect(ended.cpuCoreNanosecs).toBeGreaterThanOrEqual(second.cpuCoreNanosecs);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await usageOf(sandbox), "a finished sandbox's totals are final").toEqual(ended);
    });

    it("answers NOT_FOUND for an unknown sandbox id", async () => {
      await expect(emu.modal.cpClient.sandboxGetResourceUsage({ sandboxId: "sb-doesnotexist0000000000" })).rejects.toMatchObject({
        code: Status.NOT_FOUND,
      });
    });
  });

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
