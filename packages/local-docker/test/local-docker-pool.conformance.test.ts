import { runConformanceSuite } from "@sandbox/core/conformance";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, expect } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { createLocalDockerSandboxPool } from "../src/index.js";
import { localDockerConformanceTarget, localDockerSuiteSetup } from "./support/conformance-target.js";

// The whole core suite again, with every `create` going through a warm pool:
// a pooled sandbox must be indistinguishable from a cold one to the caller.
// Requests the pool cannot serve (names, volumes, resources, network, another
// image, invalid options) fall back to cold creates inside the same suite, so
// both paths are exercised; afterAll checks that claims really were warm and
// ran their commands through the command agent (when it could be built).
await engineAvailable();
const agentBuilt = agentBinaryPath() !== undefined;
const channels: string[] = [];

const setup = localDockerSuiteSetup("conformance-pool");
const { appName, secretsFile } = setup;

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
  expect(stats.warmClaims, `the pool served ${stats.warmClaims} claims warm and ${stats.coldCreates} cold`).toBeGreaterThan(10);
  if (agentBuilt)
    expect(
      channels.filter((channel) => channel !== "agent"),
      "claimed sandboxes without a command agent",
    ).toEqual([]);
});

runConformanceSuite(
  localDockerConformanceTarget("local-docker (warm pool)", setup, (options) => pool.claim(options), {
    inspect: async (sandbox) => void channels.push(await sandbox.commandChannelReady()),
  }),
);
