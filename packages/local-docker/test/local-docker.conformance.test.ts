import { runConformanceSuite } from "@sandbox/core/conformance";
import { dockerEngineAvailable, isCI } from "@sandbox/test-support";
import { afterAll, expect } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { localDockerConformanceTarget, localDockerSuiteSetup } from "./support/conformance-target.js";

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
afterAll(() => {
  if (agentBuilt)
    expect(
      channels.filter((channel) => channel !== "agent"),
      "sandboxes whose command agent did not start",
    ).toEqual([]);
  expect(channels.length).toBeGreaterThan(10);
});

runConformanceSuite(
  localDockerConformanceTarget("local-docker", localDockerSuiteSetup("conformance"), (options) => LocalDockerSandbox.create(options), {
    inspect: async (sandbox) => void channels.push(await sandbox.commandChannelReady()),
  }),
);
