import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { AGENT_PATH, agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";

// Issue 13: a sandbox used only for file transfers gets the command agent
// too (started in the background after its first transfer, as after a first
// command), and files over 1 MiB are streamed by the agent (no archive API,
// no process) with the archive path's answers; where the agent cannot run
// or will not answer, the archive API reads them as before.

const available = (await engineAvailable()) && agentBinaryPath() !== undefined;
const appName = `agent-transfers-${process.pid}`;
const engine = new DockerEngine();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Counts the archive API calls (put, get, stat) made while `action` runs. */
async function archiveCalls(sandbox: LocalDockerSandbox, action: () => Promise<unknown>): Promise<number> {
  const prototype = Object.getPrototypeOf(sandbox.container) as Record<string, (...args: unknown[]) => unknown>;
  const names = ["putArchive", "getArchive", "infoArchive"] as const;
  const originals = names.map((name) => prototype[name]!);
  let calls = 0;
  names.forEach((name, index) => {
    prototype[name] = function (this: unknown, ...args: unknown[]) {
      calls += 1;
      return originals[index]!.apply(this, args);
    };
  });
  try {
    await action();
  } finally {
    names.forEach((name, index) => {
      prototype[name] = originals[index]!;
    });
  }
  return calls;
}

/** The sandbox's processes as the engine lists them (no exec in the sandbox, nothing started through the handle). */
async function processes(sandbox: LocalDockerSandbox): Promise<string[]> {
  const top = (await sandbox.container.top({ ps_args: "-o pid,args" })) as { Processes?: string[][] };
  return (top.Processes ?? []).map((row) => row.join(" "));
}

async function agentRuns(sandbox: LocalDockerSandbox): Promise<boolean> {
  return (await processes(sandbox)).some((line) => line.includes(AGENT_PATH));
}

describe.runIf(available)("file transfers and the command agent (skipped without a Docker engine or a built agent)", () => {
  afterAll(async () => {
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
  });

  it("a sandbox whose first call is an upload starts the agent after it, in the background; later transfers go through the agent", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    try {
      expect(await agentRuns(sandbox), "no agent before any call").toBe(false);
      const first = await archiveCalls(sandbox, async () => {
        expect((await sandbox.uploadFiles([["/srv/a.txt", encoder.encode("first")]]))[0]?.error).toBeNull();
      });
      expect(first, "the first call does not wait for the agent: archive API").toBeGreaterThan(0);
      const deadline = Date.now() + 20_000;
      while (!(await agentRuns(sandbox)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await agentRuns(sandbox), "the agent was started after the first upload, without any command").toBe(true);
      // The channel settles once the agent said hello (the process may be listed a moment before).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const later = await archiveCalls(sandbox, async () => {
        expect((await sandbox.uploadFiles([["/srv/b.txt", encoder.encode("second")]]))[0]?.error).toBeNull();
        const read = await sandbox.downloadFiles(["/srv/a.txt", "/srv/b.txt"]);
        expect(read.map((result) => decoder.decode(result.content ?? new Uint8Array()))).toEqual(["first", "second"]);
      });
      expect(later, "archive API calls once the agent is up").toBe(0);
    } finally {
      await sandbox.close();
    }
  });

  it("a sandbox whose first call is a download starts the agent after it too; on commandChannel exec it never does", { timeout: 60_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    const exec = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, commandChannel: "exec" });
    try {
      expect((await sandbox.downloadFiles(["/etc/passwd"]))[0]?.error).toBeNull();
      expect((await exec.downloadFiles(["/etc/passwd"]))[0]?.error).toBeNull();
      const deadline = Date.now() + 20_000;
      while (!(await agentRuns(sandbox)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await agentRuns(sandbox)).toBe(true);
      expect(await agentRuns(exec)).toBe(false);
    } finally {
      await Promise.all([sandbox.close(), exec.close()]);
    }
  });
});
