import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, type EmulatorSession, startEmulatorSession } from "./support/emulator.js";

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

/** Runs the reattach fixture in a new node process (it inherits the MODAL_* variables); resolves with its raw stdout and stderr. */
async function reattachFromAnotherProcess(
  sandboxId: string,
  processId: string,
  fromOffset: number,
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./support/reattach-and-replay.mjs", import.meta.url)), sandboxId, processId, String(fromOffset)],
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

describe.runIf(withDocker)("reattach from a separate OS process through @sandbox/modal-emulator (needs a Docker engine)", () => {
  let session: EmulatorSession | undefined;
  beforeAll(async () => {
    session = await startEmulatorSession();
  }, 120_000);
  afterAll(async () => {
    await session?.stop();
  }, 120_000);

  it(`replays a process's output byte for byte, ${REATTACH_DELAY_MS} ms after the spawn, in another node process`, {
    timeout: REATTACH_DELAY_MS + 240_000,
  }, async () => {
    const sandbox = await ModalSandbox.create({ appName: `reattach-${process.pid}`, timeoutMs: Math.ceil((REATTACH_DELAY_MS + 300_000) / 1000) * 1000 });
    try {
      // 256 KiB of random bytes (every byte value, invalid UTF-8 included),
      // then output written while a reattach may already be reading.
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
});
