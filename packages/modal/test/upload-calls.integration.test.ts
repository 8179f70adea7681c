import type { Sandbox } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";

/*
 * A single-file upload is exactly the SDK's one `writeBytes`: the same RPCs,
 * counted from the emulator's own log, as the raw call on the same sandbox.
 */

const withDocker = await dockerAvailable();

describe.runIf(withDocker)("the RPCs of a single-file upload (needs a Docker engine)", () => {
  const session = useEmulatorSession();
  let sandbox: ModalSandbox | undefined;
  beforeAll(async () => {
    sandbox = await ModalSandbox.create({ appName: `upload-calls-${process.pid}` });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  /** The RPCs (method name, sorted) the emulator received while `work` ran. */
  const callsOf = async (work: () => Promise<unknown>) => {
    const before = (await session().calls()).length;
    await work();
    return (await session().calls())
      .slice(before)
      .map((path) => path.slice(path.lastIndexOf("/") + 1))
      .sort();
  };

  it("1 MiB through uploadFiles makes the same calls as one raw writeBytes", async () => {
    const payload = new Uint8Array(1024 * 1024).map((_, index) => index % 251);
    const instance = sandbox!.instance as Sandbox;
    await instance.filesystem.writeBytes(payload, "/tmp/warm.bin");
    const raw = await callsOf(() => instance.filesystem.writeBytes(payload, "/tmp/raw.bin"));
    const adapter = await callsOf(async () => {
      const [result] = await sandbox!.uploadFiles([["/tmp/adapter.bin", payload]]);
      expect(result).toEqual({ path: "/tmp/adapter.bin", error: null });
    });
    expect(raw.length).toBeGreaterThan(0);
    expect(adapter).toEqual(raw);
  });
});
