import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
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

/** Runs the reattach fixture in a new node process; resolves with its raw stdout and stderr. */
async function reattachFromAnotherProcess(
  sandboxId: string,
  processId: string,
  fromOffset: number,
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./fixtures/reattach-and-replay.mjs", import.meta.url)), sandboxId, processId, String(fromOffset)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const chunks: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  return { stdout: Buffer.concat(chunks), stderr, code };
}

describe.runIf(available)("reattach from a separate OS process (skipped when no Docker engine answers)", () => {
  it(`replays a process's output byte for byte, ${REATTACH_DELAY_MS} ms after the spawn, in another node process`, {
    timeout: REATTACH_DELAY_MS + 180_000,
  }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: Math.ceil((REATTACH_DELAY_MS + 240_000) / 1000) * 1000 });
    try {
      // 256 KiB of random bytes (every byte value, invalid UTF-8 included),
      // then output written after the reattach may already have begun.
      const spawned = await sandbox.spawn("head -c 262144 /dev/urandom > /tmp/expected.bin && cat /tmp/expected.bin && sleep 3 && printf 'live-tail'");
      const processId = spawned.id;
      await new Promise((resolve) => setTimeout(resolve, REATTACH_DELAY_MS));
      const [expectedFile] = await sandbox.downloadFiles(["/tmp/expected.bin"]);
      expect(expectedFile?.error).toBeNull();
      const expected = Buffer.concat([Buffer.from(expectedFile!.content!), Buffer.from("live-tail")]);

      for (const fromOffset of [0, 100_000, expected.length]) {
        const { stdout, stderr, code } = await reattachFromAnotherProcess(sandbox.id, processId, fromOffset);
        expect(code, `the reattaching process failed: ${stderr}`).toBe(0);
        expect(stdout.length, `replay from ${fromOffset}: byte count`).toBe(expected.length - fromOffset);
        expect(stdout.equals(expected.subarray(fromOffset)), `replay from ${fromOffset} differs from what the process wrote`).toBe(true);
        expect(stderr).toContain('exit {"exitCode":0,"reason":"exited"} dropped 0');
      }
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
