import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { LOCAL_DOCKER_LABELS, LocalDockerSandbox, localDockerSandboxExists, reap } from "../src/index.js";

const available = await dockerEngineAvailable();
const engine = new DockerEngine();

const containerExists = (id: string) => localDockerSandboxExists(id);

describe.runIf(available)("leak prevention on a real engine (skipped when no Docker engine answers)", () => {
  it("reap() removes the sandbox of an owner that was SIGKILLed", async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./fixtures/create-and-hang.mjs", import.meta.url)), BUSYBOX_IMAGE], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.setEncoding("utf8");
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: string) => {
        output += chunk;
        if (output.includes("\n")) resolve(output.trim());
      });
      child.on("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(await containerExists(id), "the killed owner's container is still there before reaping").toBe(true);
    const info = await engine.container(id).inspect();
    expect(info.Config.Labels[LOCAL_DOCKER_LABELS.ownerPid]).toBe(String(child.pid));

    const report = await reap();
    expect(report.removed).toContainEqual(expect.objectContaining({ id, reason: "owner-gone" }));
    // Test files run in parallel and each reaps at start-up: when another file's reap is removing
    // the container at the same moment, the engine answers ours "removal already in progress"
    // (409) and the container is gone a moment later.
    const deadline = Date.now() + 10_000;
    while ((await containerExists(id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await containerExists(id), "the reaped container still exists 10 s after reap()").toBe(false);
  });

  it("keeps a detached sandbox after its creator exits, for the process that reconnects", async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./fixtures/create-and-detach.mjs", import.meta.url)), BUSYBOX_IMAGE], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => (output += chunk));
    const [code] = (await once(child, "exit")) as [number];
    expect(code).toBe(0);
    const id = output.trim();
    const report = await reap();
    expect(report.removed.map((entry) => entry.id)).not.toContain(id);
    const again = await LocalDockerSandbox.fromId(id);
    try {
      expect((await again.execute("cat /tmp/handoff")).output).toBe("from-the-creator\n");
    } finally {
      await again.close();
    }
    expect(await containerExists(id)).toBe(false);
  });

  it("removes kill sidecars a crash left behind (not running, old enough), and keeps a young one", async () => {
    const leftover = async () => {
      const sidecar = await engine.docker.createContainer({
        Image: BUSYBOX_IMAGE,
        Cmd: ["true"],
        Labels: { "dev.sandbox.kill-sidecar-for": "gone-container", "dev.sandbox.managed": "true" },
      });
      return sidecar.id;
    };
    const old = await leftover();
    try {
      // A sidecar younger than the age bound may be about to start: kept.
      expect(await engine.removeIdleKillSidecars(60_000)).not.toContain(old);
      expect(await containerExists(old)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await engine.removeIdleKillSidecars(1_000)).toContain(old);
      expect(await containerExists(old)).toBe(false);
    } finally {
      await engine.docker
        .getContainer(old)
        .remove({ force: true })
        .catch(() => undefined);
    }
  });

  it("keeps the sandboxes of a live owner", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: 60_000 });
    try {
      const report = await reap();
      expect(report.removed.map((entry) => entry.id)).not.toContain(sandbox.id);
      expect(sandbox.isRunning).toBe(true);
      expect(await sandbox.isAlive()).toBe(true);
    } finally {
      await sandbox.close();
    }
  });

  it("keeps a paused sandbox of a live owner: paused is not stopped", async () => {
    const appName = `reap-paused-${process.pid}`;
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: 60_000, appName });
    const container = new DockerEngine().docker.getContainer(sandbox.id);
    try {
      await container.pause();
      const report = await reap({ appName });
      expect(report.removed, "reap() removed a paused sandbox").toEqual([]);
      await container.unpause();
      expect((await sandbox.execute("echo still-here")).output).toBe("still-here\n");
    } finally {
      await container.unpause().catch(() => undefined);
      await sandbox.close();
    }
  });

  it("reaps a sandbox whose expiry label has passed", async () => {
    // Scoped to an app of its own: other tests' sandboxes run concurrently.
    const appName = `reap-expiry-${process.pid}`;
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: 60_000, appName });
    const id = sandbox.id;
    try {
      const report = await reap({ now: Date.now() + 61_000, appName });
      expect(report.removed).toContainEqual(expect.objectContaining({ id, reason: "expired" }));
      expect(await containerExists(id)).toBe(false);
    } finally {
      await sandbox.close();
    }
  });

  it("a sandbox with a 5 s lifetime is gone after it, without close()", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: 5_000 });
    const id = sandbox.id;
    try {
      expect(await containerExists(id)).toBe(true);
      const deadline = Date.now() + 15_000;
      while ((await containerExists(id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
      expect(await containerExists(id), "container still exists 15 s after a 5 s lifetime").toBe(false);
      expect(await sandbox.isAlive()).toBe(false);
      expect(sandbox.isRunning, "isAlive() found the sandbox ended").toBe(false);
      await expect(sandbox.execute("true")).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
    } finally {
      await sandbox.close();
    }
  }, 30_000);

  it("close() leaves no container, and volumes survive the sandbox", async () => {
    const volume = `sandbox-test-volume-${process.pid}`;
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, volumes: { "/data": volume } });
    const id = sandbox.id;
    await sandbox.execute("echo kept > /data/file");
    await sandbox.close();
    try {
      expect(await containerExists(id)).toBe(false);
      const second = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, volumes: { "/data": volume } });
      try {
        expect((await second.execute("cat /data/file")).output).toBe("kept\n");
      } finally {
        await second.close();
      }
    } finally {
      await engine.removeVolume(volume);
    }
  });
});
