import { isSandboxErrorCode } from "@sandbox/core";
import { currentOwner, DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";

// Adapter-specific faults and abuse (issue 10) on a real engine: a sandbox
// killed or removed from outside, option values the engine cannot honour,
// and the start-up reap of every engine client.

const available = await engineAvailable();
const appName = `reliability-${process.pid}`;
const engine = new DockerEngine();
const encoder = new TextEncoder();

async function containersOfApp(): Promise<string[]> {
  return (await engine.listContainers({ [LABELS.app]: appName })).map((container) => container.id);
}

describe.runIf(available)("local-docker under faults (skipped when no Docker engine answers)", () => {
  afterAll(async () => {
    for (const id of await containersOfApp()) await engine.container(id).remove();
  });

  describe("a dead sandbox is not a missing file", () => {
    for (const how of ["killed", "removed"] as const) {
      it(`downloadFiles after the container was ${how} from outside throws SANDBOX_NOT_FOUND, like execute and uploadFiles`, async () => {
        const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
        try {
          await sandbox.uploadFiles([["/tmp/present.txt", encoder.encode("here")]]);
          const raw = new Docker().getContainer(sandbox.id);
          if (how === "killed") await raw.kill();
          else await raw.remove({ force: true });
          const paths = how === "killed" ? ["/tmp/missing.txt"] : ["/tmp/present.txt", "/tmp/missing.txt"];
          await expect(sandbox.downloadFiles(paths)).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
          await expect(sandbox.execute("true")).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
          await expect(sandbox.uploadFiles([["/tmp/x.txt", encoder.encode("x")]])).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
        } finally {
          await sandbox.close();
        }
      });
    }
  });

  describe("option values the engine cannot honour are refused before anything is created", () => {
    it.each([
      ["cpu: 0.001 (below the engine's smallest quota)", { cpu: 0.001 }, "cpu"],
      ["cpu: 64 (more cores than the engine has)", { cpu: 64 }, "cpu"],
      ["an invalid image reference", { imageName: "Bad/Ref:UPPER" }, "imageName"],
    ] as const)("%s -> INVALID_OPTIONS naming the option", async (_label, options, option) => {
      const before = await containersOfApp();
      const error = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, ...options }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: "INVALID_OPTIONS", retryable: false, message: expect.stringContaining(`"${option}"`) });
      expect(await containersOfApp()).toEqual(before);
    });

    it('gpu: "H100" is refused (the engine selects GPUs by count, never by model), naming the type', () => {
      let error: unknown;
      try {
        new LocalDockerSandbox({ imageName: BUSYBOX_IMAGE, gpu: "H100" });
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({
        code: "UNSUPPORTED_CAPABILITY",
        message: expect.stringMatching(/GPU model "H100".*"gpu"/),
        details: { option: "gpu", gpuType: "H100" },
      });
      expect(isSandboxErrorCode((error as { code: string }).code)).toBe(true);
      expect(() => new LocalDockerSandbox({ imageName: BUSYBOX_IMAGE, gpu: "any:2" })).not.toThrow();
    });
  });

  describe("the start-up reap covers every engine client of a process", () => {
    it("a second dockerode client reaps too (an orphan left after the default client's reap is removed)", async () => {
      // The default client reaps once...
      const first = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName });
      await first.close();
      // ...then an orphan appears: same host, this pid, but another process start.
      const owner = currentOwner();
      const orphan = await engine.createContainer({
        image: BUSYBOX_IMAGE,
        labels: {
          [LABELS.managed]: "true",
          [LABELS.provider]: "local-docker",
          [LABELS.app]: appName,
          [LABELS.ownerHost]: owner.host,
          [LABELS.ownerPid]: String(owner.pid),
          [LABELS.ownerStart]: `${owner.start.split(":")[0]}:1`,
          [LABELS.expiresAt]: String(Date.now() + 300_000),
        },
        lifetimeMs: 300_000,
      });
      try {
        const second = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, docker: new Docker() });
        await second.close();
        expect(await localDockerSandboxExists(orphan.id), "the orphan survived a create through a second engine client").toBe(false);
      } finally {
        await orphan.remove();
      }
    });
  });
});
