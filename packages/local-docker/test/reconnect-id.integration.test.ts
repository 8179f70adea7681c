import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

const available = await engineAvailable();

describe.runIf(available)("fromId with what the engine also accepts (skipped when no Docker engine answers)", () => {
  it("a prefix of the container id reconnects to the same sandbox and the handle's id is the full, stable one", { timeout: 120_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName: `reconnect-id-${process.pid}` });
    try {
      const reconnected = await LocalDockerSandbox.fromId(sandbox.id.slice(0, 12));
      try {
        expect(reconnected.id, "two handles on one sandbox must agree on its id").toBe(sandbox.id);
        await sandbox.execute("echo same > /tmp/same.txt");
        expect((await reconnected.execute("cat /tmp/same.txt")).output).toBe("same\n");
      } finally {
        await reconnected.detach();
      }
    } finally {
      await sandbox.close();
    }
  });
});
