import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable, isCI } from "@sandbox/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { AgentChannel, agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";

// The fast command channel (commandChannel: "agent"): commands really go
// through the in-sandbox agent (no docker exec per command), and a dead agent
// fails the commands it was running with a typed error, kills their
// processes, and leaves later commands to docker exec. The conformance suite
// runs in full with the agent (local-docker.<shard>.conformance.test.ts) and
// without (local-docker-exec.<shard>.conformance.test.ts).

const available = await engineAvailable();
const built = agentBinaryPath() !== undefined;
// Under CI the agent must have been built (`pnpm build` with gcc).
if (isCI() && available && !built) throw new Error("the sandbox agent was not built (dist/sandbox-agent): install gcc and libc6-dev, then pnpm build");
const appName = `command-agent-${process.pid}`;
const engine = new DockerEngine();

/** The parent of a command's shell: the agent's binary, or nothing for a docker exec (whose parent is outside the sandbox). */
async function parentOfCommand(sandbox: LocalDockerSandbox): Promise<string> {
  return (await sandbox.execute('[ "$PPID" -gt 0 ] && readlink /proc/$PPID/exe || echo "docker exec (ppid $PPID)"')).output.trim();
}

describe.runIf(available && built)("local-docker command agent (skipped without a Docker engine or without a built agent, i.e. no gcc)", () => {
  afterAll(async () => {
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
  });

  it("runs commands without a docker exec each, with the sandbox's env, per-command env and cwd", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, env: { FROM_SANDBOX: "s" }, workdir: "/srv" });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      expect(await parentOfCommand(sandbox)).toBe("/.sandbox-agent/sandbox-agent-1");
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, index) => sandbox.execute(`echo "$FROM_SANDBOX-$MINE-$(pwd)"; exit ${index}`, { env: { MINE: String(index) } })),
      );
      expect(results.map((result) => [result.output, result.exitCode])).toEqual(Array.from({ length: 5 }, (_, index) => [`s-${index}-/srv\n`, index]));
      expect((await sandbox.execute("pwd", { cwd: "/tmp" })).output).toBe("/tmp\n");
    } finally {
      await sandbox.close();
    }
  });

  it("a command starts with the signals docker exec gives it (none of the C library's own two ignored: an ignore is inherited by every process it starts)", async () => {
    const [agent, exec] = await Promise.all([
      LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName }),
      LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, commandChannel: "exec" }),
    ]);
    try {
      expect(await agent.commandChannelReady()).toBe("agent");
      const script = "grep -e SigBlk -e SigIgn /proc/self/status; sh -c 'grep SigIgn /proc/self/status'";
      const [throughAgent, throughExec] = await Promise.all([agent.execute(script), exec.execute(script)]);
      expect(throughExec.output).toMatch(/^SigBlk:\t0{16}\nSigIgn:\t0{16}\n/);
      expect(throughAgent.output).toBe(throughExec.output);
    } finally {
      await Promise.all([agent.close(), exec.close()]);
    }
  });

  it("a command gets every env entry it was given, however many (a request of 5000 entries, past any fixed table of the agent's)", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, env: { FROM_SANDBOX: "s" } });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      const env = Object.fromEntries(Array.from({ length: 5000 }, (_, index) => [`MANY_${index}`, `v=${index}`]));
      const result = await sandbox.execute('env | grep -c "^MANY_"; echo "$MANY_0 $MANY_4999 $FROM_SANDBOX"', { env });
      expect(result.output).toBe("5000\nv=0 v=4999 s\n");
      expect(await parentOfCommand(sandbox)).toBe("/.sandbox-agent/sandbox-agent-1");
    } finally {
      await sandbox.close();
    }
  });

  it("a second handle (fromId) gets an agent of its own while the first handle's agent runs", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      const second = await LocalDockerSandbox.fromId(sandbox.id);
      try {
        expect(await second.commandChannelReady()).toBe("agent");
        expect(await parentOfCommand(second)).toBe("/.sandbox-agent/sandbox-agent-1");
        const agents = (await second.execute("ps -o pid,args | grep -c '[/].sandbox-agent/'")).output.trim();
        expect(agents).toBe("2");
        expect((await sandbox.execute("echo first")).output).toBe("first\n");
      } finally {
        await second.detach();
      }
    } finally {
      await sandbox.close();
    }
  });

  it("a kill sent for a command that has just ended (a timeout racing its end) still kills what it left running, by its marker", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    const agent = await AgentChannel.start(engine.container(sandbox.id));
    try {
      expect(agent, "the agent did not start").toBeDefined();
      const marker = `SANDBOX_EXEC_ID=late-kill-${process.pid}`;
      // The shell ends at once; the background sleep holds no pipe of it, so the command ends at once too.
      const run = agent!.run({ command: "sleep 321 >/dev/null 2>&1 &", cwd: "", env: {}, marker, onStdout: () => undefined, onStderr: () => undefined });
      expect((await run.done).exitCode).toBe(0);
      const left = async () => (await sandbox.execute("ps -o args | grep -c '^sleep 321$' || true")).output.trim();
      expect(await left(), "the background process should still run after its command ended").toBe("1");
      // What the host does when its timeout fired before it read the command's end.
      expect(await run.kill(), "the kill was not confirmed").toBe(true);
      expect(await left(), "the kill answered confirmed but left the command's background process running").toBe("0");
    } finally {
      await agent?.close();
      await sandbox.close();
    }
  });

  it('commandChannel "exec" runs every command as a docker exec', async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, commandChannel: "exec" });
    try {
      expect(await sandbox.commandChannelReady()).toBe("exec");
      expect(await parentOfCommand(sandbox)).toBe("docker exec (ppid 0)");
    } finally {
      await sandbox.close();
    }
  });

  it("an agent killed mid-command fails that command with COMMAND_FAILED, kills its processes, and later commands use docker exec", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      const seconds = 40_000 + Math.floor(Math.random() * 10_000);
      const running = sandbox.execute(`echo started; sleep ${seconds}`, { timeoutMs: 60_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      const listing = async () => (await sandbox.execute("ps -o pid,args")).output;
      for (let tries = 0; tries < 50 && !(await listing()).includes(`sleep ${seconds}`); tries += 1) await new Promise((r) => setTimeout(r, 100));
      // Kill the agent from outside, as the OOM killer or a stray `kill -9 -1` would.
      const killer = await engine.container(sandbox.id).exec(["sh", "-c", "kill -9 $(pgrep -f /.sandbox-agent/)"]);
      await killer.done;
      const error = await running;
      expect(error).toMatchObject({ code: "COMMAND_FAILED", provider: "local-docker" });
      expect((error as Error).message).toContain("sandbox agent died");
      expect(await sandbox.commandChannelReady()).toBe("exec");
      expect(await listing()).not.toContain(`sleep ${seconds}`);
      expect(await parentOfCommand(sandbox)).toBe("docker exec (ppid 0)");
    } finally {
      await sandbox.close();
    }
  });

  it("a sandbox removed from outside fails a running command with SANDBOX_NOT_FOUND, never a hang", async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      const running = sandbox.execute("sleep 600", { timeoutMs: 60_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await engine.container(sandbox.id).remove();
      expect(await running).toMatchObject({ code: "SANDBOX_NOT_FOUND" });
    } finally {
      await sandbox.close();
    }
  });
});
