import { expectReplayFromAnotherProcess } from "@sandbox/test-support";
import { describe, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";

/*
 * The promise: a reattach from a separate OS process, minutes after
 * the spawn, replays a process's output byte for byte. Real SDK, real gRPC,
 * the emulator's real containers, a real second node process; no mocks.
 */

const withDocker = await dockerAvailable();

/**
 * How long after the spawn the second OS process reattaches: two minutes by
 * default, as the issue asks ("minutes after"). This is the only slow case of
 * the package; SANDBOX_REATTACH_DELAY_MS shortens it for a quick local run.
 */
const REATTACH_DELAY_MS = Number(process.env.SANDBOX_REATTACH_DELAY_MS ?? 120_000);

/** The built adapter the reattaching process loads (it inherits the MODAL_* variables). */
const ADAPTER = { url: new URL("../dist/index.js", import.meta.url), exportName: "ModalSandbox" };

describe.runIf(withDocker)("reattach from a separate OS process through @sandbox/modal-emulator (needs a Docker engine)", () => {
  useEmulatorSession();

  it(`replays a process's output byte for byte, ${REATTACH_DELAY_MS} ms after the spawn, in another node process`, {
    timeout: REATTACH_DELAY_MS + 240_000,
  }, async () => {
    const sandbox = await ModalSandbox.create({ appName: `reattach-${process.pid}`, timeoutMs: Math.ceil((REATTACH_DELAY_MS + 300_000) / 1000) * 1000 });
    try {
      await expectReplayFromAnotherProcess(sandbox, ADAPTER, REATTACH_DELAY_MS);
    } finally {
      await sandbox.close();
    }
  });
});
