import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";

// The command agent writes an existing file beside it and renames the new
// one over it: a write that fails for want of space leaves the old content
// (truncating in place, as it did, lost it), says so with a typed error,
// and leaves no partial file; a successful one keeps the file's mode and
// owner, writes through a symlink and leaves the symlink a symlink.

const available = (await engineAvailable()) && agentBinaryPath() !== undefined;
const appName = `agent-write-${process.pid}`;
const volume = `agent-write-full-${process.pid}`;
const engine = new DockerEngine();
const FULL = "/full";

describe.runIf(available)("writes through the command agent keep the old content when they fail (skipped without a Docker engine or a built agent)", () => {
  let sandbox: LocalDockerSandbox;

  beforeAll(async () => {
    // A 1 MiB tmpfs volume: small enough to fill at once.
    await engine.docker.createVolume({
      Name: volume,
      Driver: "local",
      DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" },
      Labels: { [LABELS.managed]: "true", [LABELS.app]: appName },
    });
    sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, volumes: { [FULL]: volume } });
    expect(await sandbox.commandChannelReady()).toBe("agent");
  }, 120_000);

  afterAll(async () => {
    await sandbox?.close().catch(() => undefined);
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
    await engine.removeVolume(volume);
  });

  it("a write that runs out of space fails with FILE_OPERATION_FAILED, and the file keeps its old content, mode and owner", { timeout: 60_000 }, async () => {
    expect((await sandbox.write(`${FULL}/data.txt`, "old content\n")).error).toBeUndefined();
    const prepared = await sandbox.execute(
      `chmod 640 ${FULL}/data.txt && chown 12:34 ${FULL}/data.txt && ln -s data.txt ${FULL}/link.txt && { head -c 2000000 /dev/zero > ${FULL}/filler; true; } && df -k ${FULL} | tail -n 1`,
    );
    expect(prepared.exitCode, prepared.output).toBe(0);
    const large = new Uint8Array(256 * 1024).fill(65);
    for (const path of [`${FULL}/data.txt`, `${FULL}/link.txt`]) {
      await expect(sandbox.uploadFiles([[path, large]]), path).rejects.toMatchObject({
        code: "FILE_OPERATION_FAILED",
        message: expect.stringContaining("no space left"),
      });
    }
    await expect(sandbox.uploadFiles([[`${FULL}/new.txt`, large]]), "a new file").rejects.toMatchObject({ code: "FILE_OPERATION_FAILED" });
    const after = await sandbox.execute(`cd ${FULL} && cat data.txt && stat -c '%a %u:%g' data.txt && ls -a | tr '\\n' ' '`);
    expect(after.output).toBe("old content\n640 12:34\n. .. data.txt filler link.txt ");
  });

  it("a write that fits replaces the file with its mode and owner, and through a symlink leaves the symlink", { timeout: 60_000 }, async () => {
    expect((await sandbox.execute(`rm ${FULL}/filler && chmod 640 ${FULL}/data.txt && chown 12:34 ${FULL}/data.txt`)).exitCode).toBe(0);
    expect((await sandbox.uploadFiles([[`${FULL}/link.txt`, new TextEncoder().encode("new content\n")]]))[0]?.error).toBeNull();
    const after = await sandbox.execute(`cd ${FULL} && cat data.txt && stat -c '%a %u:%g' data.txt && readlink link.txt && ls -a | tr '\\n' ' '`);
    expect(after.output).toBe("new content\n640 12:34\ndata.txt\n. .. data.txt link.txt ");
  });
});
