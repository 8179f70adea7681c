import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { createLocalDockerSandboxPool, type LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";

// Warm-pool behaviour against a real engine: claims are served without
// creating a container, apply what the pool could not know, and fall back to
// cold creates for requests a pooled container cannot satisfy.
const available = await engineAvailable();
const engine = new DockerEngine();
const appName = `pool-test-${process.pid}`;
const secretsDirectory = mkdtempSync(join(tmpdir(), "sandbox-pool-secrets-"));
const secretsFile = join(secretsDirectory, "secrets.json");
writeFileSync(secretsFile, JSON.stringify({ "pool-secret": { POOL_TOKEN: "s3cr3t-value" } }));

async function containersOfApp(): Promise<string[]> {
  const list = await engine.listContainers({ [LABELS.managed]: "true", [LABELS.app]: appName });
  return list.filter((container) => container.state === "running").map((container) => container.id);
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return check();
}

afterAll(async () => {
  rmSync(secretsDirectory, { recursive: true, force: true });
  if (!available) return;
  // Nothing of this file may outlive it.
  for (const id of await containersOfApp()) await engine.container(id).remove();
});

describe.skipIf(!available)("local-docker warm pool (needs a Docker engine)", () => {
  const options = { appName, imageName: BUSYBOX_IMAGE, secretsFile };

  it("serves a claim warm: no container is created at claim time, and the pool refills afterwards", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 2, maxConcurrentStarts: 2 });
    try {
      await pool.ready();
      const before = await containersOfApp();
      expect(before).toHaveLength(2);
      const sandbox = await pool.claim();
      const after = await containersOfApp();
      expect(after.sort()).toEqual(before.sort());
      expect(before).toContain(sandbox.id);
      expect(pool.stats.warmClaims).toBe(1);
      expect((await sandbox.execute("echo warm")).output).toBe("warm\n");
      // Refilled in the background back to size: 2 idle plus the claimed one.
      expect(await waitUntil(() => pool.stats.idle === 2, 60_000)).toBe(true);
      expect(await containersOfApp()).toHaveLength(3);
      await sandbox.close();
    } finally {
      await pool.close();
    }
    expect(await containersOfApp()).toHaveLength(0);
  });

  it("applies env, secrets, workdir, initial files and lifetime at claim, like a cold create", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options: { ...options, env: { FROM_POOL: "base" } }, size: 1 });
    try {
      await pool.ready();
      const sandbox = await pool.claim({
        env: { GREETING: "hello claim", FROM_POOL: "override" },
        secrets: ["pool-secret"],
        workdir: "/srv/claimed/work",
        initialFiles: { "/srv/claimed/work/input.txt": "initial content" },
        timeoutMs: 4_000,
      });
      expect(pool.stats.warmClaims).toBe(1);
      const result = await sandbox.execute('printf "%s|%s|%s|" "$GREETING" "$FROM_POOL" "$POOL_TOKEN"; pwd; cat input.txt');
      expect(result.output).toBe("hello claim|override|s3cr3t-value|/srv/claimed/work\ninitial content");
      // A per-command env and cwd still win over the claim's.
      expect((await sandbox.execute('echo "$GREETING"; pwd', { env: { GREETING: "per-command" }, cwd: "/tmp" })).output).toBe("per-command\n/tmp\n");
      // The claim's 4 s lifetime holds although the pooled container was started with the pool's 1 hour.
      const id = sandbox.id;
      expect(await waitUntil(async () => !(await localDockerSandboxExists(id)), 30_000)).toBe(true);
      await sandbox.close();
    } finally {
      await pool.close();
    }
  });

  it("a claim without workdir returns before the watchdog is up, and its lifetime still holds", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 1 });
    try {
      await pool.ready();
      const sandbox = await pool.claim({ timeoutMs: 3_000 });
      expect(pool.stats.warmClaims).toBe(1);
      expect((await sandbox.execute("echo first")).output).toBe("first\n");
      const id = sandbox.id;
      expect(await waitUntil(async () => !(await localDockerSandboxExists(id)), 30_000)).toBe(true);
      await expect(sandbox.execute("echo gone")).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
      await sandbox.close();
    } finally {
      await pool.close();
    }
  });

  it("a claim whose workdir cannot be created fails like a cold create", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 1 });
    try {
      await pool.ready();
      await expect(pool.claim({ workdir: "/etc/passwd/sub" })).rejects.toMatchObject({ code: "SANDBOX_CREATION_FAILED", provider: "local-docker" });
    } finally {
      await pool.close();
    }
  });

  it("a claim whose secret cannot be resolved fails like a cold create and leaves no container", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 1 });
    try {
      await pool.ready();
      const claimedId = (await containersOfApp())[0];
      const error = await pool.claim({ secrets: ["no-such-secret"] }).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toMatchObject({ code: "SANDBOX_CREATION_FAILED", provider: "local-docker" });
      expect(String((error as Error).message)).toContain('secret "no-such-secret"');
      expect(await waitUntil(async () => !(await localDockerSandboxExists(claimedId!)), 30_000)).toBe(true);
      const invalid = await pool.claim({ env: { "1BAD": "x" } }).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(invalid).toMatchObject({ code: "INVALID_OPTIONS", provider: "local-docker" });
    } finally {
      await pool.close();
    }
  });

  it("creates cold, with the caller's options, when the request is incompatible", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 1 });
    const opened: LocalDockerSandbox[] = [];
    try {
      await pool.ready();
      const idle = await containersOfApp();
      for (const request of [{ memoryMiB: 64 }, { cpu: 0.5 }, { blockNetwork: true }, { name: `named-${process.pid}` }, { timeoutMs: 7_200_000 }]) {
        const sandbox = await pool.claim(request);
        opened.push(sandbox);
        expect(idle, `request ${JSON.stringify(request)} must not take the pooled container`).not.toContain(sandbox.id);
      }
      expect(pool.stats).toMatchObject({ warmClaims: 0, coldCreates: 5, idle: 1 });
      const limited = await opened[0]!.container.inspect();
      expect(limited.HostConfig.Memory).toBe(64 * 1024 * 1024);
      expect((await opened[2]!.container.inspect()).HostConfig.NetworkMode).toBe("none");
      expect(pool.isCompatible({ imageName: "other:latest" })).toBe(false);
      expect(pool.isCompatible({ env: { A: "b" }, workdir: "/x", timeoutMs: 60_000 })).toBe(true);
    } finally {
      await Promise.all(opened.map((sandbox) => sandbox.close()));
      await pool.close();
    }
  });

  it("stays bounded: never more than size idle plus starting, and close() leaves no container", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 3, maxConcurrentStarts: 1 });
    let maxStarting = 0;
    let maxTotal = 0;
    const sample = setInterval(() => {
      maxStarting = Math.max(maxStarting, pool.stats.starting);
      maxTotal = Math.max(maxTotal, pool.stats.idle + pool.stats.starting);
    }, 5);
    try {
      await pool.ready();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await containersOfApp()).toHaveLength(3);
      expect(maxStarting).toBe(1);
      expect(maxTotal).toBeLessThanOrEqual(3);
    } finally {
      clearInterval(sample);
      await pool.close();
    }
    expect(await containersOfApp()).toHaveLength(0);
    await expect(pool.claim()).rejects.toMatchObject({ code: "SANDBOX_CLOSED" });
  });

  it("close() while starts are in flight removes those containers too", { timeout: 120_000 }, async () => {
    const pool = createLocalDockerSandboxPool({ options, size: 2 });
    expect(pool.stats.starting).toBeGreaterThan(0);
    await pool.close();
    expect(await containersOfApp()).toHaveLength(0);
  });

  it("refuses bad pool settings with a typed error naming the setting", () => {
    expect(() => createLocalDockerSandboxPool({ options, size: -1 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"size"') }),
    );
    expect(() => createLocalDockerSandboxPool({ options: { ...options, name: "x" }, size: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"options.name"') }),
    );
    expect(() => createLocalDockerSandboxPool({ options: { ...options, cpu: -1 }, size: 1 })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
  });
});
