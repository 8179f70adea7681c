import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable, expectReplayFromAnotherProcess } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

const available = await engineAvailable();

/**
 * How long after the spawn the second OS process reattaches. The issue asks
 * for "minutes"; nothing in the mechanism depends on time (output is kept in
 * files inside the sandbox and read back by offset), so CI uses a short
 * delay. Set SANDBOX_REATTACH_DELAY_MS=180000 to run it minutes later.
 */
const REATTACH_DELAY_MS = Number(process.env.SANDBOX_REATTACH_DELAY_MS ?? 5_000);

/** The built adapter the reattaching process loads. */
const ADAPTER = { url: new URL("../dist/index.js", import.meta.url), exportName: "LocalDockerSandbox" };

describe.runIf(available)("reattach from a separate OS process (skipped when no Docker engine answers)", () => {
  it(`replays a process's output byte for byte, ${REATTACH_DELAY_MS} ms after the spawn, in another node process`, {
    timeout: REATTACH_DELAY_MS + 180_000,
  }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: Math.ceil((REATTACH_DELAY_MS + 240_000) / 1000) * 1000 });
    try {
      await expectReplayFromAnotherProcess(sandbox, ADAPTER, REATTACH_DELAY_MS);
    } finally {
      await sandbox.close();
    }
  });

  it("reports output dropped beyond the retention instead of hiding it", { timeout: 180_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: 300_000, processRetainedBytes: 1_048_576 });
    try {
      const total = 8 * 1_048_576;
      const spawned = await sandbox.spawn(`head -c ${total} /dev/zero`);
      await spawned.wait();
      const [info] = (await sandbox.listProcesses()).filter((entry) => entry.id === spawned.id);
      expect(info?.stdout.endOffset).toBe(total);
      expect(info!.stdout.firstOffset, "with 1 MiB retained, most of 8 MiB must be reported dropped").toBeGreaterThanOrEqual(total - 2 * 1_048_576);
      const attached = await sandbox.attachProcess(spawned.id);
      let received = 0;
      for await (const chunk of attached.stdout) received += chunk.byteLength;
      expect(attached.stdout.droppedBytes).toBe(info!.stdout.firstOffset);
      expect(received).toBe(total - info!.stdout.firstOffset);
      const retained = await sandbox.execute(`du -sk /run/sandbox-processes/${spawned.id} | cut -f1`);
      expect(Number(retained.output.trim()), "the sandbox keeps at most the retention plus one segment on disk").toBeLessThanOrEqual(2 * 1024 + 16);
    } finally {
      await sandbox.close();
    }
  });
});
