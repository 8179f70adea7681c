import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceSuite } from "@sandbox/core/conformance";
import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable, isCI } from "@sandbox/test-support";
import { afterAll, expect } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";

// The whole core suite against a real Docker engine, with the default
// command channel: the in-sandbox agent. Each created sandbox waits for its
// agent, so the suite exercises it rather than the docker exec it falls back
// to while the agent starts; afterAll checks that every one had it (unless
// the agent could not be built here: no gcc, outside CI). Under CI a missing
// engine fails here instead of skipping.
await dockerEngineAvailable();
const agentBuilt = agentBinaryPath() !== undefined;
if (isCI() && !agentBuilt) throw new Error("the sandbox agent was not built (dist/sandbox-agent): install gcc and libc6-dev, then pnpm build");
const channels: string[] = [];
async function withAgent(sandbox: LocalDockerSandbox): Promise<LocalDockerSandbox> {
  channels.push(await sandbox.commandChannelReady());
  return sandbox;
}
afterAll(() => {
  if (agentBuilt)
    expect(
      channels.filter((channel) => channel !== "agent"),
      "sandboxes whose command agent did not start",
    ).toEqual([]);
  expect(channels.length).toBeGreaterThan(10);
});

const appName = `conformance-${process.pid}`;
const secretsDirectory = mkdtempSync(join(tmpdir(), "sandbox-conformance-secrets-"));
const secretsFile = join(secretsDirectory, "secrets.json");
writeFileSync(secretsFile, "{}");
afterAll(() => rmSync(secretsDirectory, { recursive: true, force: true }));
const engine = new DockerEngine();
const volumeErrorProbe = `conformance-volume-error-${process.pid}`;

runConformanceSuite({
  name: "local-docker",
  create: async (options) => withAgent(await LocalDockerSandbox.create({ appName, secretsFile, ...options })),
  construct: (options) => new LocalDockerSandbox({ appName, secretsFile, ...options }),
  fromId: async (id) => withAgent(await LocalDockerSandbox.fromId(id)),
  fromName: async (app, name) => withAgent(await LocalDockerSandbox.fromName(app, name)),
  appName,
  baseOptions: { imageName: BUSYBOX_IMAGE },
  exists: (id) => localDockerSandboxExists(id),
  killFromOutside: (id) => engine.container(id).stop(),
  fixtures: {
    deleteVolume: (name) => engine.removeVolume(name),
    // Volumes are created on demand here, so the VOLUME_ERROR case mounts one
    // where no volume can go: over a regular file of the image.
    async createWithMissingVolume() {
      try {
        return await LocalDockerSandbox.create({ appName, imageName: BUSYBOX_IMAGE, volumes: { "/etc/passwd": volumeErrorProbe } });
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
  // The engine selects GPUs by count only; a model name is refused.
  gpuType: "any",
});
