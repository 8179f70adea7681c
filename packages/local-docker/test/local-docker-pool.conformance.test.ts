import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceSuite } from "@sandbox/core/conformance";
import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, expect } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { createLocalDockerSandboxPool, LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";

// The whole core suite again, with every `create` going through a warm pool:
// a pooled sandbox must be indistinguishable from a cold one to the caller.
// Requests the pool cannot serve (names, volumes, resources, network, another
// image, invalid options) fall back to cold creates inside the same suite, so
// both paths are exercised; afterAll checks that claims really were warm and
// ran their commands through the command agent (when it could be built).
await engineAvailable();
const agentBuilt = agentBinaryPath() !== undefined;
const channels: string[] = [];

const appName = `conformance-pool-${process.pid}`;
const secretsDirectory = mkdtempSync(join(tmpdir(), "sandbox-conformance-pool-secrets-"));
const secretsFile = join(secretsDirectory, "secrets.json");
writeFileSync(secretsFile, "{}");
const engine = new DockerEngine();
const volumeErrorProbe = `conformance-pool-volume-error-${process.pid}`;

// Shared group sandboxes live up to 15 minutes; pooled ones must outlast that.
const pool = createLocalDockerSandboxPool({
  options: { appName, secretsFile, imageName: BUSYBOX_IMAGE },
  size: 2,
  maxConcurrentStarts: 1,
  maxLifetimeMs: 1_800_000,
});
afterAll(async () => {
  const stats = pool.stats;
  await pool.close();
  rmSync(secretsDirectory, { recursive: true, force: true });
  expect(stats.warmClaims, `the pool served ${stats.warmClaims} claims warm and ${stats.coldCreates} cold`).toBeGreaterThan(10);
  if (agentBuilt)
    expect(
      channels.filter((channel) => channel !== "agent"),
      "claimed sandboxes without a command agent",
    ).toEqual([]);
});

runConformanceSuite({
  name: "local-docker (warm pool)",
  create: async (options) => {
    const sandbox = await pool.claim({ appName, secretsFile, ...options });
    channels.push(await sandbox.commandChannelReady());
    return sandbox;
  },
  construct: (options) => new LocalDockerSandbox({ appName, secretsFile, ...options }),
  fromId: (id) => LocalDockerSandbox.fromId(id),
  fromName: (app, name) => LocalDockerSandbox.fromName(app, name),
  appName,
  baseOptions: { imageName: BUSYBOX_IMAGE },
  exists: (id) => localDockerSandboxExists(id),
  fixtures: {
    deleteVolume: (name) => engine.removeVolume(name),
    async createWithMissingVolume() {
      try {
        return await pool.claim({ appName, imageName: BUSYBOX_IMAGE, volumes: { "/etc/passwd": volumeErrorProbe } });
      } finally {
        await engine.removeVolume(volumeErrorProbe);
      }
    },
    async createSecret(name, values) {
      const store = JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, unknown>;
      writeFileSync(secretsFile, JSON.stringify({ ...store, [name]: values }));
    },
    async deleteSecret(name) {
      const store = JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, unknown>;
      delete store[name];
      writeFileSync(secretsFile, JSON.stringify(store));
    },
  },
  unavailable: { gpu: "this Docker engine has no GPU runtime" },
});
