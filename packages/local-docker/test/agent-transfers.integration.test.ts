import { createHash } from "node:crypto";
import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { AGENT_PATH, AgentChannel, agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { archiveCalls } from "./support/archive-calls.js";

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
const MiB = 1024 * 1024;

function sha256(content: Uint8Array | null | undefined): string {
  return createHash("sha256")
    .update(content ?? new Uint8Array(0))
    .digest("hex");
}

/** The sha256 of a file in the sandbox, as root (`sha256sum` in a root exec: no agent, no archive API). */
async function sandboxSha256(sandbox: LocalDockerSandbox, path: string): Promise<string> {
  let output = "";
  const exec = await engine.container(sandbox.id).exec(["sha256sum", path], { user: "0", onStdout: (chunk) => (output += chunk.toString("utf8")) });
  await exec.done;
  return output.split(" ")[0] ?? "";
}

/** Setup of the large-file cases, run as root (the sandbox may run as another user). */
async function asRoot(sandbox: LocalDockerSandbox, script: string): Promise<void> {
  let stderr = "";
  const exec = await engine.container(sandbox.id).exec(["sh", "-c", script], { user: "0", onStderr: (chunk) => (stderr += chunk.toString("utf8")) });
  expect((await exec.done).exitCode, stderr).toBe(0);
}

const LARGE_SETUP = [
  "mkdir -p /srv/large/dir",
  "cd /srv/large",
  "head -c 3145728 /dev/urandom > big.bin",
  "head -c 3145728 /dev/urandom > private.bin && chmod 600 private.bin",
  "ln -s big.bin link-to-big",
  "head -c 5242881 /dev/urandom > over.bin",
  "head -c 1048577 /dev/urandom > just-over-1mib.bin",
  "head -c 1048576 /dev/urandom > exactly-1mib.bin",
  "mkfifo fifo && ln -s /dev/zero zero",
].join(" && ");

const LARGE_DOWNLOADS = [
  "/srv/large/big.bin",
  "/srv/large/private.bin",
  "/srv/large/link-to-big",
  "/srv/large//big.bin",
  "/srv/large/over.bin",
  "/srv/large/just-over-1mib.bin",
  "/srv/large/exactly-1mib.bin",
  "/srv/large/missing.bin",
  "/srv/large/dir",
  "/srv/large/big.bin/child",
  "/srv/large/fifo",
  "/srv/large/zero",
];

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

  it("a file over 1 MiB is streamed by the agent: byte for byte, no archive API call, no process left", { timeout: 120_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await asRoot(sandbox, "mkdir -p /srv && head -c 25165831 /dev/urandom > /srv/big.bin");
      const before = await processes(sandbox);
      let read: Awaited<ReturnType<LocalDockerSandbox["downloadFiles"]>> = [];
      const calls = await archiveCalls(sandbox, async () => {
        read = await sandbox.downloadFiles(["/srv/big.bin", "/srv/big.bin"]);
      });
      expect(calls, "archive API calls for a large file on the agent").toBe(0);
      expect(read.map((result) => [result.error, result.content?.byteLength])).toEqual([
        [null, 25165831],
        [null, 25165831],
      ]);
      const expected = await sandboxSha256(sandbox, "/srv/big.bin");
      expect(sha256(read[0]?.content)).toBe(expected);
      expect(sha256(read[1]?.content)).toBe(expected);
      expect(await processes(sandbox), "no process left by the reads").toEqual(before);
    } finally {
      await sandbox.close();
    }
  });

  it("large files give the archive path's answers, byte for byte (symlinks, doubled slashes, permissions, over maxDownloadBytes, missing, directory, FIFO, device)", {
    timeout: 120_000,
  }, async () => {
    const options = { imageName: BUSYBOX_IMAGE, appName, maxDownloadBytes: 5 * MiB };
    const [agent, exec] = await Promise.all([LocalDockerSandbox.create(options), LocalDockerSandbox.create({ ...options, commandChannel: "exec" })]);
    try {
      expect(await agent.commandChannelReady()).toBe("agent");
      await Promise.all([asRoot(agent, LARGE_SETUP), asRoot(exec, LARGE_SETUP)]);
      // The same random content in both: copied from the agent's sandbox to the exec one, as root.
      for (const name of ["big.bin", "private.bin", "over.bin", "just-over-1mib.bin", "exactly-1mib.bin"]) {
        let content = Buffer.alloc(0);
        const reader = await engine.container(agent.id).exec(["cat", `/srv/large/${name}`], {
          user: "0",
          onStdout: (chunk) => (content = Buffer.concat([content, chunk])),
        });
        await reader.done;
        const writer = await engine.container(exec.id).exec(["sh", "-c", `cat > /srv/large/${name}`], { user: "0", stdin: true });
        writer.stdin!.end(content);
        await writer.done;
      }
      let fromAgent: Awaited<ReturnType<LocalDockerSandbox["downloadFiles"]>> = [];
      const calls = await archiveCalls(agent, async () => {
        fromAgent = await agent.downloadFiles(LARGE_DOWNLOADS);
      });
      const fromExec = await exec.downloadFiles(LARGE_DOWNLOADS);
      expect(fromAgent.map((result) => [result.path, result.error, sha256(result.content)])).toEqual(
        fromExec.map((result) => [result.path, result.error, sha256(result.content)]),
      );
      expect(fromAgent.map((result) => result.error)).toEqual([
        null,
        null,
        null,
        null,
        "invalid_path",
        null,
        null,
        "file_not_found",
        "is_directory",
        "file_not_found",
        "invalid_path",
        "invalid_path",
      ]);
      expect(sha256(fromAgent[0]?.content)).toBe(await sandboxSha256(agent, "/srv/large/big.bin"));
      // Only the file over maxDownloadBytes is left to the archive path (which refuses it from its stat).
      expect(calls, "archive API calls on the agent").toBeLessThanOrEqual(4);
    } finally {
      await Promise.all([agent.close(), exec.close()]);
    }
  });

  it("where the agent cannot read as root (the sandbox runs as another user) a large root-only file is read through the archive API, byte for byte", {
    timeout: 120_000,
  }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, user: "1000:1000" });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await asRoot(sandbox, "mkdir -p /srv && head -c 3145728 /dev/urandom > /srv/root-only.bin && chmod 600 /srv/root-only.bin");
      expect((await sandbox.execute("cat /srv/root-only.bin > /dev/null")).exitCode, "the sandbox user cannot read it").not.toBe(0);
      let read: Awaited<ReturnType<LocalDockerSandbox["downloadFiles"]>> = [];
      const calls = await archiveCalls(sandbox, async () => {
        read = await sandbox.downloadFiles(["/srv/root-only.bin"]);
      });
      expect(calls).toBeGreaterThan(0);
      expect(read[0]?.error).toBeNull();
      expect(sha256(read[0]?.content)).toBe(await sandboxSha256(sandbox, "/srv/root-only.bin"));
    } finally {
      await sandbox.close();
    }
  });

  it("the agent does not answer for a file that grows while it is streamed (the archive path reads it instead)", { timeout: 120_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    let channel: AgentChannel | undefined;
    try {
      await asRoot(sandbox, "mkdir -p /srv && head -c 33554432 /dev/zero > /srv/growing.bin");
      channel = await AgentChannel.start(engine.container(sandbox.id));
      expect(channel?.streams).toBe(true);
      const steady = await channel!.streamFile("/srv/growing.bin", 64 * MiB);
      expect(steady && "content" in steady ? steady.content.byteLength : steady).toBe(32 * MiB);
      const writer = await engine.container(sandbox.id).exec(["sh", "-c", "while :; do echo more >> /srv/growing.bin; done"]);
      try {
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await channel!.streamFile("/srv/growing.bin", 64 * MiB)).toBeUndefined();
      } finally {
        await writer.kill();
      }
    } finally {
      channel?.close();
      await sandbox.close();
    }
  });
});
