import { afterAll, describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, type EmulatorSession, startEmulatorSession } from "./support/emulator.js";

// Faults of issue 10 (Deliver 5) through the real modal SDK and the emulator:
// the emulator stopped and restarted while a client uses it. Bounded.

const withDocker = await dockerAvailable();
const appName = `faults-${process.pid}`;

describe.runIf(withDocker)("@sandbox/modal under faults, through the emulator (needs a Docker engine)", () => {
  const sessions: EmulatorSession[] = [];
  afterAll(async () => {
    for (const session of sessions) await session.stop();
  }, 120_000);

  it("the emulator stopped mid-command: the command ends promptly (killed, 137, as its sandbox was terminated) or with a typed error; calls while it is down fail typed; after a restart on the same address the client works again", {
    timeout: 180_000,
  }, async () => {
    const first = await startEmulatorSession();
    sessions.push(first);
    const port = Number(new URL(first.url).port);
    const sandbox = await ModalSandbox.create({ appName, imageName: "sandbox-busybox:latest" });
    const running = sandbox.execute("sleep 60; echo never", { timeoutMs: 90_000 }).then(
      (result) => ({ result }),
      (caught: unknown) => ({ error: caught as { code?: string } }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const stoppedAt = Date.now();
    await first.stop();
    const ended = await running;
    if ("result" in ended) {
      // Stopping the emulator terminates its sandboxes: the command was killed, never completed.
      expect(ended.result).toMatchObject({ exitCode: 137 });
      expect(ended.result.output).not.toContain("never");
    } else {
      expect(["PROVIDER_UNAVAILABLE", "SANDBOX_NOT_FOUND"]).toContain(ended.error.code);
    }
    expect(Date.now() - stoppedAt, "the command did not fail promptly after the emulator stopped").toBeLessThan(60_000);
    // While it is down: a typed error, not a hang.
    const down = await sandbox.execute("true", { timeoutMs: 20_000 }).catch((caught: unknown) => caught);
    expect(down).toMatchObject({ code: expect.stringMatching(/^(PROVIDER_UNAVAILABLE|SANDBOX_NOT_FOUND)$/) });

    const second = await startEmulatorSession({ port } as Parameters<typeof startEmulatorSession>[0]);
    sessions.push(second);
    expect(second.url).toBe(first.url);
    // The old sandbox went with the emulator that ran it: said so, typed.
    await expect(sandbox.execute("true", { timeoutMs: 30_000 })).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
    await sandbox.close().catch(() => undefined);
    const fresh = await ModalSandbox.create({ appName, imageName: "sandbox-busybox:latest" });
    try {
      expect((await fresh.execute("echo back")).output).toBe("back\n");
    } finally {
      await fresh.close();
    }
  });
});
