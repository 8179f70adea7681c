import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { archiveCalls } from "./support/archive-calls.js";

// Small files are read and written by the command agent itself (no exec, no
// archive API), with the archive path's answers: the same per-file results
// and the same bytes, modes and files left behind as a sandbox on
// commandChannel "exec" (which uses the archive API), over what trips file
// transfers up. Large files, pseudo-filesystems and devices still take the
// archive path or a process in the sandbox.

const available = (await engineAvailable()) && agentBinaryPath() !== undefined;
const appName = `agent-files-${process.pid}`;
const engine = new DockerEngine();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ROOT = "/work/files";

const SETUP = [
  `mkdir -p ${ROOT}/dir/child ${ROOT}/target-dir`,
  `cd ${ROOT}`,
  "printf 'plain' > plain && printf 'secret' > private && chmod 600 private",
  "ln -s plain link-to-plain && ln -s /nonexistent-dir-x dangling-dir && ln -s target-dir/new.txt dangling-file",
  "ln -s loop-b loop-a && ln -s loop-a loop-b && mkfifo fifo && ln -s /dev/zero zero && ln -s target-dir link-to-dir",
].join(" && ");

/** Upload cases: [path, content]; each sandbox starts from SETUP. */
const UPLOADS: Array<[string, string]> = [
  [`${ROOT}/new/parents/file.txt`, "nested"],
  [`${ROOT}/plain`, "overwritten"],
  [`${ROOT}/private`, "still private"],
  [`${ROOT}/dir`, "over a directory"],
  [`${ROOT}/plain/child.txt`, "under a file"],
  [`${ROOT}/dangling-dir/file.txt`, "through a dangling link"],
  [`${ROOT}/dangling-file`, "creates the link's target"],
  [`${ROOT}/link-to-plain`, "through a link to a file"],
  [`${ROOT}/loop-a`, "a loop"],
  [`${ROOT}/fifo`, "a fifo"],
  [`${ROOT}/link-to-dir/../plain-via-dotdot`, "dot-dot taken lexically"],
  [`${ROOT}/sp ace/'quote".txt`, "odd name"],
  [`${ROOT}/empty.txt`, ""],
];

const DOWNLOADS = [
  `${ROOT}/plain`,
  `${ROOT}/private`,
  `${ROOT}/missing.txt`,
  `${ROOT}/missing-dir/file.txt`,
  `${ROOT}/dir`,
  `${ROOT}/dir/`,
  `${ROOT}/plain/child`,
  `${ROOT}/plain/`,
  `${ROOT}/link-to-plain`,
  `${ROOT}/dangling-dir/file.txt`,
  `${ROOT}/dangling-file`,
  `${ROOT}/loop-a`,
  `${ROOT}/fifo`,
  `${ROOT}/zero`,
  "/dev/null",
  "/proc/kmsg",
];

/** What a sandbox holds under ROOT afterwards: every file with its mode, owner and content. */
async function snapshot(sandbox: LocalDockerSandbox): Promise<string> {
  const result = await sandbox.execute(
    `cd ${ROOT} && find . -type f | sort | while read -r f; do printf '%s %s ' "$f" "$(stat -c '%a %u:%g' "$f")"; cat "$f"; echo; done`,
  );
  return result.output;
}

describe.runIf(available)("file transfers through the command agent (skipped without a Docker engine or a built agent)", () => {
  let agent: LocalDockerSandbox;
  let exec: LocalDockerSandbox;

  beforeAll(async () => {
    agent = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, maxDownloadBytes: 64 * 1024 });
    exec = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, commandChannel: "exec", maxDownloadBytes: 64 * 1024 });
    expect(await agent.commandChannelReady()).toBe("agent");
    for (const sandbox of [agent, exec]) expect((await sandbox.execute(SETUP)).exitCode).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await agent?.close().catch(() => undefined);
    await exec?.close().catch(() => undefined);
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
  });

  it("small files are read and written without the archive API", { timeout: 60_000 }, async () => {
    const calls = await archiveCalls(agent, async () => {
      expect((await agent.uploadFiles([[`${ROOT}/fast/a.txt`, encoder.encode("fast")]]))[0]?.error).toBeNull();
      expect(decoder.decode((await agent.downloadFiles([`${ROOT}/fast/a.txt`]))[0]?.content ?? new Uint8Array())).toBe("fast");
      expect((await agent.write(`${ROOT}/fast/b.txt`, "tool")).error).toBeUndefined();
      expect((await agent.edit(`${ROOT}/fast/b.txt`, "tool", "edited")).occurrences).toBe(1);
      await agent.execute(`rm -r ${ROOT}/fast`);
    });
    expect(calls, "archive API calls for small files on the agent").toBe(0);
    const large = new Uint8Array(2 * 1024 * 1024).fill(7);
    const largeCalls = await archiveCalls(agent, () => agent.uploadFiles([["/tmp/large.bin", large]]));
    expect(largeCalls, "a file over 1 MiB takes the archive API").toBeGreaterThan(0);
  });

  it("uploads give the archive path's results and leave the same files, modes and owners", { timeout: 60_000 }, async () => {
    const results = await Promise.all([agent, exec].map((sandbox) => sandbox.uploadFiles(UPLOADS.map(([path, text]) => [path, encoder.encode(text)]))));
    expect(results[0]).toEqual(results[1]);
    expect(results[0]?.map((result) => result.error)).toContain("is_directory");
    const [afterAgent, afterExec] = await Promise.all([snapshot(agent), snapshot(exec)]);
    expect(afterAgent).toEqual(afterExec);
    expect(afterAgent).toContain("./private 600 0:0 still private");
    expect(afterAgent).toContain("./new/parents/file.txt 644 0:0 nested");
  });

  it("downloads give the archive path's results, byte for byte", { timeout: 60_000 }, async () => {
    const [fromAgent, fromExec] = await Promise.all([agent, exec].map((sandbox) => sandbox.downloadFiles(DOWNLOADS)));
    expect(fromAgent).toEqual(fromExec);
    expect(fromAgent?.map((result) => result.error)).toEqual([
      null,
      null,
      "file_not_found",
      "file_not_found",
      "is_directory",
      "is_directory",
      "file_not_found",
      "file_not_found", // a trailing slash on a regular file, as plain/child
      null,
      "file_not_found",
      null, // the upload test created the link's target
      "invalid_path",
      "invalid_path",
      "invalid_path",
      "invalid_path",
      "permission_denied",
    ]);
  });

  it("all 256 byte values, an empty file and a file over maxDownloadBytes", { timeout: 60_000 }, async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
    const big = new Uint8Array(100 * 1024).fill(1);
    for (const sandbox of [agent, exec]) {
      const written = await sandbox.uploadFiles([
        ["/tmp/bytes.bin", bytes],
        ["/tmp/empty.bin", new Uint8Array(0)],
        ["/tmp/big.bin", big],
      ]);
      expect(written.map((result) => result.error)).toEqual([null, null, null]);
    }
    const [fromAgent, fromExec] = await Promise.all(
      [agent, exec].map((sandbox) => sandbox.downloadFiles(["/tmp/bytes.bin", "/tmp/empty.bin", "/tmp/big.bin"])),
    );
    expect(fromAgent).toEqual(fromExec);
    expect(fromAgent?.[0]?.content).toEqual(bytes);
    expect(fromAgent?.[1]?.content).toEqual(new Uint8Array(0));
    expect(fromAgent?.[2]?.error, "over maxDownloadBytes (64 KiB)").toBe("invalid_path");
  });
});
