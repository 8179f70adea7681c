import { DockerEngine } from "@sandbox/local-docker/engine";
import { describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";

// The real modal SDK against the emulator, with the sandbox's container paused
// from outside (docker pause): calls may fail while it is paused, but the
// sandbox must not be taken for finished, and works again once unpaused.

const withDocker = await dockerAvailable();

describe.runIf(withDocker)("the emulator survives a paused sandbox container (needs a Docker engine)", () => {
  const session = useEmulatorSession();

  it("a command timing out while the container is paused does not end the sandbox; after unpause calls work", { timeout: 180_000 }, async () => {
    const sandbox = await ModalSandbox.create({ appName: `pause-${process.pid}`, imageName: "sandbox-busybox:latest" });
    const container = new DockerEngine().docker.getContainer((await session().sandboxes()).find((entry) => entry.sandboxId === sandbox.id)!.containerId);
    try {
      expect((await sandbox.execute("echo before")).output).toBe("before\n");
      await container.pause();
      try {
        const outcome = await sandbox.execute("echo while-paused", { timeoutMs: 2_000 }).then(
          () => "resolved",
          (error: { code?: string }) => error.code,
        );
        expect(outcome, "a command in a paused sandbox cannot have run").not.toBe("resolved");
      } finally {
        await container.unpause();
      }
      const after = await sandbox.execute("echo after-unpause", { timeoutMs: 30_000 });
      expect(after.output).toBe("after-unpause\n");
      expect(sandbox.isRunning).toBe(true);
      expect(await sandbox.isAlive()).toBe(true);
    } finally {
      await container.unpause().catch(() => undefined);
      await sandbox.close();
    }
  });
});
