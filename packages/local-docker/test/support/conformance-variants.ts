import { type ConformanceShard, runConformanceSuite } from "@sandbox/core/conformance";
import { dockerEngineAvailable, isCI, OFFLINE_BUSYBOX_IMAGE } from "@sandbox/test-support";
import { afterAll, expect } from "vitest";
import { agentBinaryPath } from "../../src/agent-channel.js";
import { createLocalDockerSandboxPool, LocalDockerSandbox } from "../../src/index.js";
import { localDockerConformanceTarget, localDockerSuiteSetup } from "./conformance-target.js";

/*
 * The three ways local-docker runs the whole core suite, each split into
 * shards (one `*.conformance.test.ts` file per shard, so vitest runs them in
 * parallel; together the shards of a variant register every group once):
 *
 * - agent: the default command channel, the in-sandbox agent, no pool;
 * - pool: every `create` through a warm pool, with the agent (issue 13: the
 *   suite passes "with the pool and the fast channel on");
 * - exec: `commandChannel: "exec"` (one docker exec per command, the
 *   agent's fallback) and no pool: "with both off".
 *
 * Under CI a missing engine, or an agent that was not built, fails here
 * instead of skipping.
 */

const agentBuilt = agentBinaryPath() !== undefined;

/**
 * Sandboxes whose commands must have gone through the agent: checked in
 * afterAll (unless the agent could not be built here: no gcc, outside CI),
 * so the suite exercises the agent rather than the docker exec it falls back
 * to while the agent starts.
 */
function expectAgentOnEvery(channels: string[], what: string): void {
  if (agentBuilt)
    expect(
      channels.filter((channel) => channel !== "agent"),
      what,
    ).toEqual([]);
}

/** The whole suite (this shard of it) with the command agent and cold creates. */
export async function agentConformance(shard: ConformanceShard): Promise<void> {
  await dockerEngineAvailable();
  if (isCI() && !agentBuilt) throw new Error("the sandbox agent was not built (dist/sandbox-agent): install gcc and libc6-dev, then pnpm build");
  const channels: string[] = [];
  afterAll(() => {
    expectAgentOnEvery(channels, "sandboxes whose command agent did not start");
    expect(channels.length, "sandboxes the suite created or reconnected").toBeGreaterThan(3);
  });
  runConformanceSuite(
    localDockerConformanceTarget(
      `local-docker (${shard.index}/${shard.count})`,
      localDockerSuiteSetup("conformance"),
      (options) => LocalDockerSandbox.create(options),
      {
        inspect: async (sandbox) => void channels.push(await sandbox.commandChannelReady()),
      },
    ),
    { shard },
  );
}

/**
 * The whole suite (this shard of it) with every `create` going through a
 * warm pool: a pooled sandbox must be indistinguishable from a cold one to
 * the caller. Requests the pool cannot serve (names, volumes, resources,
 * network, another image, invalid options) fall back to cold creates inside
 * the same suite, so both paths are exercised; afterAll checks that claims
 * really were warm and ran their commands through the agent.
 */
export async function poolConformance(shard: ConformanceShard): Promise<void> {
  await dockerEngineAvailable();
  const channels: string[] = [];
  const setup = localDockerSuiteSetup("conformance-pool");
  // Shared group sandboxes live up to 15 minutes; pooled ones must outlast that.
  const pool = createLocalDockerSandboxPool({
    options: { appName: setup.appName, secretsFile: setup.secretsFile, imageName: OFFLINE_BUSYBOX_IMAGE },
    size: 2,
    maxConcurrentStarts: 1,
    maxLifetimeMs: 1_800_000,
  });
  afterAll(async () => {
    const stats = pool.stats;
    await pool.close();
    expect(stats.warmClaims, `the pool served ${stats.warmClaims} claims warm and ${stats.coldCreates} cold`).toBeGreaterThan(3);
    expectAgentOnEvery(channels, "claimed sandboxes without a command agent");
  });
  runConformanceSuite(
    localDockerConformanceTarget(`local-docker (warm pool, ${shard.index}/${shard.count})`, setup, (options) => pool.claim(options), {
      inspect: async (sandbox) => void channels.push(await sandbox.commandChannelReady()),
    }),
    { shard },
  );
}

/** The whole suite (this shard of it) with `commandChannel: "exec"` and cold creates: every command is its own docker exec. */
export async function execConformance(shard: ConformanceShard): Promise<void> {
  await dockerEngineAvailable();
  const channels: string[] = [];
  afterAll(() => {
    expect(
      channels.filter((channel) => channel !== "exec"),
      'sandboxes created with commandChannel "exec" that used another channel',
    ).toEqual([]);
    expect(channels.length, "sandboxes the suite created or reconnected").toBeGreaterThan(3);
  });
  runConformanceSuite(
    localDockerConformanceTarget(
      `local-docker (commandChannel exec, ${shard.index}/${shard.count})`,
      localDockerSuiteSetup("conformance-exec"),
      (options) => LocalDockerSandbox.create(options),
      { commandChannel: "exec", inspect: async (sandbox) => void channels.push(await sandbox.commandChannelReady()) },
    ),
    { shard },
  );
}
