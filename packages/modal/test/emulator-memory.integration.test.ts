import { readFileSync } from "node:fs";
import { MAX_PROCESS_READ_BYTES } from "@sandbox/modal-emulator";
import type { FileDownloadResponse } from "deepagents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, type EmulatorSession, startEmulatorSession } from "./support/emulator.js";

/*
 * Issue 10, "Done when": the emulator's memory stays bounded while a client
 * reads an endless device and a 6 GiB sparse file through it. The emulator
 * runs in its own process (test/support/emulator-child.mjs); its resident set
 * is read from /proc/<pid>/status while @sandbox/modal downloads the files.
 *
 * Before, the adapter answered the emulator's FileTooLarge by reading the
 * file again with `cat` through an exec, without a bound: on /dev/zero the
 * emulator grew past 7 GB. Now the device is read in the sandbox up to the
 * emulator's process-read cap ({@link MAX_PROCESS_READ_BYTES}), its reader
 * is killed, and the file is a per-file `invalid_path`.
 *
 * Bound: the cap plus 64 MiB of slack (gRPC buffers, the garbage collector's
 * lag), for one read at a time. Reads of a batch run up to four at once, each
 * within the cap.
 */

const MiB = 1024 * 1024;
const GROWTH_BOUND = MAX_PROCESS_READ_BYTES + 64 * MiB;
/** A read that has not settled by now never will: on the old code, /dev/zero streamed until the 10-minute exec timeout. */
const SETTLE_MS = 60_000;
const withDocker = await dockerAvailable();
const appName = `emulator-memory-${process.pid}`;

/** Resident set of a process in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Peak resident-set growth of the emulator and of this process while `action` runs (sampled every 25 ms), and whether it settled in time. */
async function peakGrowth(pid: number, action: () => Promise<FileDownloadResponse[]>) {
  const baseline = { emulator: rssOf(pid), host: process.memoryUsage().rss };
  const peak = { ...baseline };
  const sample = () => {
    peak.emulator = Math.max(peak.emulator, rssOf(pid));
    peak.host = Math.max(peak.host, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 25);
  let timeout: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      action(),
      new Promise<"unsettled">((resolve) => {
        timeout = setTimeout(() => resolve("unsettled"), SETTLE_MS);
      }),
    ]);
    sample();
    return { result, emulator: peak.emulator - baseline.emulator, host: peak.host - baseline.host };
  } finally {
    clearInterval(timer);
    clearTimeout(timeout);
  }
}

describe.runIf(withDocker && process.platform === "linux")("emulator memory while reading endless and huge files (needs a Docker engine, Linux /proc)", () => {
  let session: EmulatorSession | undefined;
  let sandbox: ModalSandbox | undefined;
  const ready = () => {
    if (!session || !sandbox) throw new Error("the emulator or the sandbox did not start (see beforeAll)");
    return { session, sandbox };
  };

  beforeAll(async () => {
    session = await startEmulatorSession();
    sandbox = await ModalSandbox.create({ appName });
    const made = await sandbox.execute("truncate -s 6G /tmp/sparse.bin && stat -c %s /tmp/sparse.bin");
    expect(made.output.trim()).toBe("6442450944");
  }, 180_000);

  afterAll(async () => {
    await sandbox?.close().catch(() => undefined);
    await session?.stop();
  }, 120_000);

  it(`/dev/zero: invalid_path, emulator RSS grows less than ${GROWTH_BOUND / MiB} MiB, and no reader is left in the sandbox`, {
    timeout: 120_000,
  }, async () => {
    const { session, sandbox } = ready();
    const measured = await peakGrowth(session.pid, () => sandbox.downloadFiles(["/dev/zero"]));
    expect(measured.result, "the read of /dev/zero must settle").not.toBe("unsettled");
    expect((measured.result as FileDownloadResponse[]).map((entry) => entry.error)).toEqual(["invalid_path"]);
    expect(measured.emulator, `emulator RSS grew by ${Math.round(measured.emulator / MiB)} MiB`).toBeLessThan(GROWTH_BOUND);
    expect(measured.host, `client RSS grew by ${Math.round(measured.host / MiB)} MiB`).toBeLessThan(GROWTH_BOUND);
    await expect.poll(async () => (await sandbox.execute("ps -o args | grep '^cat -- /dev/zero' || true")).output, { timeout: 10_000 }).toBe("");
  });

  it(`a 6 GiB sparse file: invalid_path at once, emulator RSS grows less than ${GROWTH_BOUND / MiB} MiB`, { timeout: 120_000 }, async () => {
    const { session, sandbox } = ready();
    const started = Date.now();
    const measured = await peakGrowth(session.pid, () => sandbox.downloadFiles(["/tmp/sparse.bin"]));
    expect(measured.result, "the read of the sparse file must settle").not.toBe("unsettled");
    expect((measured.result as FileDownloadResponse[]).map((entry) => entry.error)).toEqual(["invalid_path"]);
    expect(Date.now() - started, "refused from its size, not streamed").toBeLessThan(20_000);
    expect(measured.emulator, `emulator RSS grew by ${Math.round(measured.emulator / MiB)} MiB`).toBeLessThan(GROWTH_BOUND);
    expect(measured.host, `client RSS grew by ${Math.round(measured.host / MiB)} MiB`).toBeLessThan(GROWTH_BOUND);
  });
});
