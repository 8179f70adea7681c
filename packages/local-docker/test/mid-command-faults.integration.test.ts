import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

// Faults of issue 10 (Deliver 5) that strike while a command runs: the
// container killed, removed or paused from outside. Each ends in a typed
// outcome within a stated bound; nothing hangs.

const available = await dockerEngineAvailable();
const appName = `mid-command-${process.pid}`;
const docker = new Docker();
const opened: LocalDockerSandbox[] = [];

async function create(options: { commandChannel?: "exec" } = {}): Promise<LocalDockerSandbox> {
  const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, timeoutMs: 120_000, ...options });
  opened.push(sandbox);
  return sandbox;
}

/** Starts a long command, lets it run a moment, then applies `fault`; returns how the command ended and how long after the fault. */
async function strikeMidCommand(sandbox: LocalDockerSandbox, fault: () => Promise<unknown>, timeoutMs = 60_000) {
  const running = sandbox.execute("echo started; sleep 45; echo finished", { timeoutMs }).then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error: error as { code?: string; details?: Record<string, unknown> } }),
  );
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const struck = Date.now();
  await fault();
  const outcome = await running;
  return { ...outcome, afterMs: Date.now() - struck };
}

describe.runIf(available)("local-docker: the container struck from outside mid-command (skipped when no Docker engine answers)", () => {
  afterAll(async () => {
    for (const sandbox of opened) await sandbox.close().catch(() => undefined);
  });

  for (const how of ["killed", "removed"] as const) {
    it(`${how} mid-command: the command fails with SANDBOX_NOT_FOUND within seconds, and so does every later call`, { timeout: 90_000 }, async () => {
      const sandbox = await create();
      const container = docker.getContainer(sandbox.id);
      const { result, error, afterMs } = await strikeMidCommand(sandbox, () => (how === "killed" ? container.kill() : container.remove({ force: true })));
      expect(result, `the command cannot have finished: ${JSON.stringify(result)}`).toBeUndefined();
      expect(error).toMatchObject({ code: "SANDBOX_NOT_FOUND" });
      expect(afterMs, "the command did not settle promptly").toBeLessThan(10_000);
      await expect(sandbox.execute("true")).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
      await expect(sandbox.downloadFiles(["/etc/hostname"])).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
      expect(await sandbox.isAlive()).toBe(false);
    });
  }

  it("killed as a command starts (docker exec channel): SANDBOX_NOT_FOUND, not the runtime's exit 126 as the command's result", {
    timeout: 90_000,
  }, async () => {
    // The engine still lists the container as running while it goes, so the exec is created and its
    // start fails in the runtime ("OCI runtime exec failed: ... cannot exec in a stopped container",
    // exit 126). Before the fix every one of 10 tries of this race answered that as the command's result.
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const sandbox = await create({ commandChannel: "exec" });
      await sandbox.execute("true");
      const kill = docker.getContainer(sandbox.id).kill();
      const outcome = await sandbox.execute("echo ran").then(
        (result) => `exit ${result.exitCode}: ${result.output.trim()}`,
        (error: { code?: string }) => String(error.code),
      );
      await kill.catch(() => undefined);
      outcomes.push(outcome);
    }
    // The command either ran whole before the kill or the call says the sandbox is gone.
    for (const outcome of outcomes) expect(["exit 0: ran", "SANDBOX_NOT_FOUND"]).toContain(outcome);
  });

  it("paused mid-command: the timeout still fires (COMMAND_TIMEOUT within its bound); after unpause the sandbox works", { timeout: 90_000 }, async () => {
    const sandbox = await create();
    const container = docker.getContainer(sandbox.id);
    try {
      const { result, error, afterMs } = await strikeMidCommand(sandbox, () => container.pause(), 4_000);
      expect(result).toBeUndefined();
      expect(error).toMatchObject({ code: "COMMAND_TIMEOUT" });
      // Timeout 4 s, struck after 1 s; core's kill grace (15 s) bounds the rest.
      expect(afterMs, "the timeout of a paused command did not settle within its bound").toBeLessThan(3_000 + 15_000 + 5_000);
    } finally {
      await container.unpause().catch(() => undefined);
    }
    const after = await sandbox.execute("echo after-unpause; ps -o args | grep -c 'sleep 45' || true", { timeoutMs: 30_000 });
    expect(after.output.split("\n")[0]).toBe("after-unpause");
    expect(sandbox.isRunning).toBe(true);
  });
});
