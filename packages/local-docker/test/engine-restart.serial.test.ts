import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

// The Docker engine restarted while a command runs (issue 10, Deliver 5).
// Serial and alone: its own vitest config (vitest.serial.config.ts), run by
// the root `pnpm test` after every package's tests, because stopping dockerd stops
// every container on the machine. The engine is brought back with
// scripts/start-docker-engine.sh whatever happens.

const execFileAsync = promisify(execFile);
const PID_FILE = "/var/run/docker.pid";
const START_SCRIPT = fileURLToPath(new URL("../../../scripts/start-docker-engine.sh", import.meta.url));
const available = await dockerEngineAvailable();
const canRestart = available && process.getuid?.() === 0 && !process.env.DOCKER_HOST && existsSync(PID_FILE) && existsSync(START_SCRIPT);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}

async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe.runIf(canRestart)(
  "local-docker across a Docker engine restart (runs as root with a local dockerd whose pid is in /var/run/docker.pid, as scripts/start-docker-engine.sh starts it)",
  () => {
    it("a command running when dockerd stops fails typed within seconds; calls while it is down fail typed; after the restart the old sandbox is SANDBOX_NOT_FOUND and a new one works", {
      timeout: 300_000,
    }, async () => {
      const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName: `engine-restart-${process.pid}`, timeoutMs: 300_000 });
      try {
        const running = sandbox.execute("sleep 60; echo never", { timeoutMs: 120_000 }).then(
          (result) => ({ result, error: undefined }),
          (error: unknown) => ({ result: undefined, error: error as { code?: string } }),
        );
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const pid = Number(readFileSync(PID_FILE, "utf8").trim());
        expect(alive(pid), "dockerd is running").toBe(true);
        const stoppedAt = Date.now();
        try {
          process.kill(pid, "SIGTERM");
          const outcome = await bounded(running, 60_000, "the running command after dockerd stopped");
          expect(outcome.result, `the command cannot have finished: ${JSON.stringify(outcome.result)}`).toBeUndefined();
          expect(["PROVIDER_UNAVAILABLE", "SANDBOX_NOT_FOUND"]).toContain(outcome.error?.code);
          expect(Date.now() - stoppedAt).toBeLessThan(60_000);
          const deadline = Date.now() + 60_000;
          while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
          expect(alive(pid), "dockerd did not stop within 60 s").toBe(false);
          const down = await bounded(
            sandbox.execute("true").catch((error: unknown) => error),
            30_000,
            "execute() while the engine is down",
          );
          expect(down).toMatchObject({ code: "PROVIDER_UNAVAILABLE", retryable: true });
        } finally {
          // Bring the engine back whatever happened; say why if it does not come.
          await execFileAsync("bash", [START_SCRIPT], { timeout: 150_000 }).catch((error: { stdout?: string; stderr?: string; message?: string }) => {
            throw new Error(`scripts/start-docker-engine.sh failed: ${error.message}\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
          });
        }
        await expect(sandbox.execute("true")).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
        const fresh = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName: `engine-restart-${process.pid}` });
        try {
          expect((await fresh.execute("echo back")).output).toBe("back\n");
        } finally {
          await fresh.close();
        }
      } finally {
        await sandbox.close().catch(() => undefined);
      }
    });
  },
);
