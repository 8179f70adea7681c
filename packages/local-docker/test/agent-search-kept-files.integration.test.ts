import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { BaseSandbox, type GrepResult } from "deepagents";
import { describe, expect, it } from "vitest";
import { AGENT_PATH, agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { commandsOf, useParitySandboxes } from "./support/tool-parity.js";

// The agent's grep keeps the contents of small files it read and, next time,
// reads again only files whose stat differs (see "Kept files" in
// agent/sandbox-agent.c). Each case here makes a change that a weaker rule
// would miss, after the file was searched once with settled timestamps (so
// its content is kept), always to the same size, and checks that the next
// search sees it, as deepagents' own grep command does.

const available = (await engineAvailable()) && agentBinaryPath() !== undefined;
const IMAGE = "sandbox-python:bookworm";
const appName = `search-kept-${process.pid}`;
const ROOT = "/work/kept";
/** Longer than any clock tick: a file this old may be kept. */
const SETTLE_MS = 1_300;

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

function command(sandbox: LocalDockerSandbox, pattern: string, path: string): Promise<GrepResult> {
  return BaseSandbox.prototype.grep.call(sandbox, pattern, path, null, null);
}

/** The agent's answer (no command run), equal to the command's; its matching lines. */
async function agentGrep(sandbox: LocalDockerSandbox, pattern: string, path: string): Promise<string[]> {
  let answer: GrepResult | undefined;
  const commands = await commandsOf(sandbox, async () => {
    answer = await sandbox.grep(pattern, path);
  });
  expect(commands, `grep ${pattern} in ${path}: answered by the agent`).toEqual([]);
  expect(answer, `grep ${pattern} in ${path}`).toEqual(await command(sandbox, pattern, path));
  return (answer?.matches ?? []).map((match) => `${match.path.slice(path.length + 1)}: ${match.text}`).sort();
}

async function run(sandbox: LocalDockerSandbox, script: string): Promise<void> {
  const result = await sandbox.execute(script);
  expect(result.exitCode, result.output).toBe(0);
}

/** Waits until `path` exists in the sandbox (a background process's signal). */
async function waitFor(sandbox: LocalDockerSandbox, path: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await sandbox.execute(`test -e ${path}`)).exitCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${path} never appeared`);
}

/** The command agent's resident memory in the sandbox, KiB. */
async function agentResidentKiB(sandbox: LocalDockerSandbox): Promise<number> {
  const status = await sandbox.execute(`for p in /proc/[0-9]*; do [ "$(readlink $p/exe)" = ${AGENT_PATH} ] && grep VmRSS $p/status; done; true`);
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status.output)?.[1]);
  expect(kib, status.output).toBeGreaterThan(0);
  return kib;
}

/** Maps a file shared and writable, writes `one` at its start, then `two` once /tmp/<tag>-go exists, and keeps the mapping until /tmp/<tag>-stop does. */
const MAPPER = `
import mmap, os, sys, time
path, tag = sys.argv[1], sys.argv[2]
def wait(name):
    while not os.path.exists(name):
        time.sleep(0.02)
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:3] = b"one"
    open("/tmp/" + tag + "-1", "w").close()
    wait("/tmp/" + tag + "-go")
    m[0:3] = b"two"
    open("/tmp/" + tag + "-2", "w").close()
    wait("/tmp/" + tag + "-stop")
    m.close()
`;

/** Writes `new` at a file's start through a shared mapping, then unmaps and closes it. */
const MAP_ONCE = `
import mmap, sys
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:3] = b"new"
    m.close()
`;

describe.runIf(available)("grep's kept file contents are never stale (skipped without a Docker engine or a built agent)", () => {
  const sandboxOf = useParitySandboxes(
    appName,
    [IMAGE],
    `mkdir -p ${ROOT} /work/outside && printf '%s' '${MAPPER}' > /tmp/mapper.py && printf '%s' '${MAP_ONCE}' > /tmp/map-once.py`,
    (sandbox) => sandbox.grep("warm-up", "/nonexistent"),
  );

  it("a same-size rewrite, one with the old modification time put back, a rename over, a write through a hard link from elsewhere, an upload, a removal", {
    timeout: 120_000,
  }, async () => {
    const sandbox = sandboxOf(IMAGE);
    const dir = `${ROOT}/changes`;
    await run(
      sandbox,
      `mkdir -p ${dir} && cd ${dir} && for f in rewrite touched renamed linked uploaded removed; do printf 'old needle\\n' > $f; done && ln linked /work/outside/linked-elsewhere`,
    );
    await settle();
    const before = ["linked", "removed", "renamed", "rewrite", "touched", "uploaded"].map((name) => `${name}: old needle`);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(before);
    expect(await agentGrep(sandbox, "needle", dir), "again, from what was kept").toEqual(before);

    await run(
      sandbox,
      [
        `cd ${dir}`,
        "printf 'new needle\\n' > rewrite",
        "touch -r touched /tmp/stamp && printf 'new needle\\n' > touched && touch -m -r /tmp/stamp touched",
        "printf 'new needle\\n' > renamed.tmp && mv renamed.tmp renamed",
        "printf 'new needle\\n' > /work/outside/linked-elsewhere",
        "rm removed",
      ].join(" && "),
    );
    const [uploaded] = await sandbox.uploadFiles([[`${dir}/uploaded`, new TextEncoder().encode("new needle\n")]]);
    expect(uploaded?.error).toBeNull();
    const after = ["linked", "renamed", "rewrite", "touched", "uploaded"].map((name) => `${name}: new needle`);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(after);
    await settle();
    expect(await agentGrep(sandbox, "needle", dir), "kept again once settled").toEqual(after);
    await run(sandbox, `printf 'two needle\\n' > ${dir}/rewrite`);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(after.map((line) => (line.startsWith("rewrite") ? "rewrite: two needle" : line)));
  });

  it("a file written twice within a moment, searched between the writes", { timeout: 60_000 }, async () => {
    const sandbox = sandboxOf(IMAGE);
    const dir = `${ROOT}/quick`;
    for (let round = 0; round < 5; round++) {
      await run(sandbox, `mkdir -p ${dir} && printf 'aaa needle\\n' > ${dir}/f`);
      expect(await agentGrep(sandbox, "needle", dir)).toEqual(["f: aaa needle"]);
      await run(sandbox, `printf 'bbb needle\\n' > ${dir}/f`);
      expect(await agentGrep(sandbox, "needle", dir)).toEqual(["f: bbb needle"]);
    }
  });

  it("writes through a shared mapping that stays mapped (no timestamp changes after the first)", { timeout: 60_000 }, async () => {
    const sandbox = sandboxOf(IMAGE);
    const dir = `${ROOT}/mapped`;
    await run(sandbox, `mkdir -p ${dir} && printf 'zzz needle\\n' > ${dir}/m && printf 'other needle\\n' > ${dir}/o`);
    await run(sandbox, `nohup python3 /tmp/mapper.py ${dir}/m kept >/dev/null 2>&1 &`);
    try {
      await waitFor(sandbox, "/tmp/kept-1");
      await settle();
      expect(await agentGrep(sandbox, "needle", dir)).toEqual(["m: one needle", "o: other needle"]);
      expect(await agentGrep(sandbox, "needle", dir)).toEqual(["m: one needle", "o: other needle"]);
      await run(sandbox, "touch /tmp/kept-go");
      await waitFor(sandbox, "/tmp/kept-2");
      expect(await agentGrep(sandbox, "needle", dir), "the second write, through the page the first made writable").toEqual([
        "m: two needle",
        "o: other needle",
      ]);
    } finally {
      await sandbox.execute("touch /tmp/kept-go /tmp/kept-stop");
    }
  });

  it("writes through a shared mapping of a file on a volume mounted under /dev (a disk, whatever its path says)", { timeout: 60_000 }, async () => {
    const volume = `${appName}-dev-volume`;
    const sandbox = await LocalDockerSandbox.create({ imageName: IMAGE, appName, volumes: { "/dev/data": volume } });
    const dir = "/dev/data/mapped";
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await run(
        sandbox,
        `printf '%s' '${MAPPER}' > /tmp/mapper.py && mkdir -p ${dir} && printf 'zzz needle\\n' > ${dir}/m && stat -f -c %T ${dir} | grep -v -q tmpfs`,
      );
      await sandbox.grep("warm-up", "/nonexistent"); // asks once which tools the image has
      await run(sandbox, `nohup python3 /tmp/mapper.py ${dir}/m dev >/dev/null 2>&1 &`);
      await waitFor(sandbox, "/tmp/dev-1");
      await settle();
      expect(await agentGrep(sandbox, "needle", dir)).toEqual(["m: one needle"]);
      expect(await agentGrep(sandbox, "needle", dir)).toEqual(["m: one needle"]);
      await run(sandbox, "touch /tmp/dev-go");
      await waitFor(sandbox, "/tmp/dev-2");
      expect(await agentGrep(sandbox, "needle", dir), "the second write, through the page the first made writable").toEqual(["m: two needle"]);
    } finally {
      await sandbox.execute("touch /tmp/dev-go /tmp/dev-stop").catch(() => undefined);
      await sandbox.close();
      await new DockerEngine().removeVolume(volume);
    }
  });

  it("on tmpfs, a write through a mapping that is gone by the next search (older kernels change no timestamp for it there)", { timeout: 60_000 }, async () => {
    const sandbox = sandboxOf(IMAGE);
    const dir = "/dev/shm/kept";
    await run(sandbox, `mkdir -p ${dir} && printf 'old needle\\n' > ${dir}/t && stat -f -c %T ${dir} | grep -q tmpfs`);
    await settle();
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(["t: old needle"]);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(["t: old needle"]);
    await run(sandbox, `python3 /tmp/map-once.py ${dir}/t`);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(["t: new needle"]);
  });

  it("on the sandbox's disk, a write through a mapping that is gone by the next search", { timeout: 60_000 }, async () => {
    const sandbox = sandboxOf(IMAGE);
    const dir = `${ROOT}/mapped-once`;
    await run(sandbox, `mkdir -p ${dir} && printf 'old needle\\n' > ${dir}/d`);
    await settle();
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(["d: old needle"]);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(["d: old needle"]);
    await run(sandbox, `python3 /tmp/map-once.py ${dir}/d`);
    expect(await agentGrep(sandbox, "needle", dir)).toEqual(["d: new needle"]);
  });

  it("a search that must make room while storing a content does not free the kept contents it still uses (the agent stays up)", {
    timeout: 180_000,
  }, async () => {
    // 21 files of 208 000 bytes under a 4 MiB ceiling: 20 are kept. The first in
    // the walk's order then grows to 256 KiB: storing it needs room, and the
    // other 20 are the same search's kept hits, which must not be dropped (nor
    // written to once freed) to make it. Directory names of several lengths,
    // as the freed memory's next use depends on the stored path's length.
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, memoryMiB: 128 });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await run(sandbox, "(echo needle; head -c 170000 /dev/urandom | base64) | head -c 208000 > /seed");
      for (let length = 30; length <= 44; length += 2) {
        const dir = `/work/room${length}/${"d".repeat(length - 16)}`;
        await run(sandbox, `mkdir -p ${dir} && cd ${dir} && for i in $(seq 1 20); do cp /seed f$i; done && cp /seed seed`);
        await settle();
        const first = (await sandbox.grep("needle", dir)).matches?.[0]?.path;
        expect(first).toBeDefined();
        const all = await agentGrep(sandbox, "needle", dir);
        expect(all).toHaveLength(21);
        await run(sandbox, `(echo needle; head -c 250000 /dev/urandom | base64) | head -c 262144 > ${first}.new && mv ${first}.new ${first}`);
        await settle();
        expect(await agentGrep(sandbox, "needle", dir), `${dir}: stores the grown file`).toEqual(all);
        expect(await agentGrep(sandbox, "needle", dir), `${dir}: again`).toEqual(all);
      }
    } finally {
      await sandbox.close();
    }
  });

  it("counts each kept file's path and record, not only its content: many empty files stay within the ceiling", { timeout: 120_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, memoryMiB: 128 });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      // 20 000 empty files (0 bytes of content each), searched under 8 spellings of
      // the root (each spelling's paths are other entries): ~2.4 MB of records each.
      await run(
        sandbox,
        "mkdir -p /work/empty && cd /work/empty && for d in $(seq 1 40); do mkdir $d && (cd $d && touch $(seq 1 500)); done && echo needle > 1/1",
      );
      await settle();
      for (let dots = 0; dots < 8; dots++) {
        const root = `/work/empty${"/.".repeat(dots)}`;
        expect((await sandbox.grep("needle", root)).matches?.map((match) => match.path)).toEqual([`${root}/1/1`]);
      }
      expect(await agentGrep(sandbox, "needle", "/work/empty")).toEqual(["1/1: needle"]);
      const rssKiB = await agentResidentKiB(sandbox);
      // Its own ~6 MiB and 4 MiB kept; the records alone of 8 x 20 000 files would be ~19 MiB.
      expect(rssKiB, "the agent's resident memory, KiB").toBeLessThan(14 * 1024);
    } finally {
      await sandbox.close();
    }
  });

  it("keeps at most a 32nd of the sandbox's memory limit", { timeout: 120_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, memoryMiB: 128 });
    try {
      expect(await sandbox.commandChannelReady()).toBe("agent");
      // 600 files of 27 KB (16 MB): all of it would be kept under the 16 MiB ceiling; 4 MiB here.
      await run(sandbox, "mkdir -p /work/big && cd /work/big && head -c 20000 /dev/urandom | base64 > seed && for i in $(seq 1 600); do cp seed f$i.txt; done");
      await settle();
      for (let i = 0; i < 3; i++) expect((await sandbox.grep("needle", "/work/big")).matches).toEqual([]);
      const rssKiB = await agentResidentKiB(sandbox);
      // Its own ~6 MiB (two io_uring read buffers of 2 MiB) and 4 MiB kept; 16 MiB kept would be ~21 MiB.
      expect(rssKiB, "the agent's resident memory, KiB").toBeLessThan(14 * 1024);
    } finally {
      await sandbox.close();
    }
  });
});
