import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { App, ModalClient, Sandbox } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientWith, engineReachable } from "../test/support/emulator-harness.js";
import { OUTPUT_BACKPRESSURE_BYTES } from "./exec-session.js";

/*
 * Issue 11: a raw `sandbox.exec(["cat", "/dev/zero"])` whose output nobody
 * reads must not grow the emulator without bound. The emulator stops reading
 * the exec's output while OUTPUT_BACKPRESSURE_BYTES wait unread, as a pipe
 * blocks the writer on Modal, and goes on once the client reads. The
 * emulator runs in its own process (src/bin.ts under tsx) so that its
 * resident set can be measured from /proc; so it keeps its own start-up
 * rather than useModalEmulator's, which runs the emulator in this process.
 */

const MiB = 1024 * 1024;
/** The cap plus slack for the engine's socket buffers, gRPC and the garbage collector's lag. */
const GROWTH_BOUND = OUTPUT_BACKPRESSURE_BYTES + 96 * MiB;
const TOKEN_ID = "ak-backpressure-test";
const TOKEN_SECRET = "as-backpressure-test-secret";
const withDocker = engineReachable && process.platform === "linux";

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Starts `modal-emulator` (the CLI, from source) in a child process; resolves with its URL. */
function startEmulatorProcess(): Promise<{ child: ChildProcess; url: string }> {
  const bin = fileURLToPath(new URL("./bin.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", bin, "--token-id", TOKEN_ID, "--token-secret", TOKEN_SECRET], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const url = /listening on (\S+)/.exec(output)?.[1];
      if (url) resolve({ child, url });
    });
    child.once("exit", (code) => reject(new Error(`the emulator exited with code ${code} before it was ready: ${output}`)));
  });
}

/** Peak growth of the emulator's resident set over `ms`, sampled every 25 ms. */
async function peakGrowthOver(pid: number, ms: number): Promise<number> {
  const baseline = rssOf(pid);
  let peak = baseline;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    peak = Math.max(peak, rssOf(pid));
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return peak - baseline;
}

describe.runIf(withDocker)("exec output backpressure (modal@0.11.1 SDK, emulator in its own process, Linux /proc)", { timeout: 120_000 }, () => {
  let emulator: { child: ChildProcess; url: string } | undefined;
  let modal: ModalClient;
  let app: App;
  let sandbox: Sandbox | undefined;

  beforeAll(async () => {
    emulator = await startEmulatorProcess();
    modal = clientWith({ MODAL_SERVER_URL: emulator.url }, { tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET });
    app = await modal.apps.fromName("emulator-backpressure", { createIfMissing: true });
    sandbox = await modal.sandboxes.create(app, modal.images.fromRegistry("alpine:3.21"));
  }, 120_000);

  afterAll(async () => {
    await sandbox?.terminate().catch(() => undefined);
    modal?.close();
    const child = emulator?.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  }, 120_000);

  it(`cat /dev/zero that nobody reads: the emulator grows by less than ${GROWTH_BOUND / MiB} MiB, and output flows again once read`, async () => {
    const pid = emulator!.child.pid!;
    const process_ = await sandbox!.exec(["cat", "/dev/zero"], { mode: "binary" });
    // Unbounded, cat fills the emulator at hundreds of MiB a second: 6 s are gigabytes.
    const growth = await peakGrowthOver(pid, 6_000);
    expect(growth, `emulator RSS grew by ${Math.round(growth / MiB)} MiB`).toBeLessThan(GROWTH_BOUND);

    // Reading resumes the flow: more than the cap arrives, all of it zeros.
    const reader = process_.stdout.getReader();
    let received = 0;
    let nonZero = 0;
    while (received < 4 * OUTPUT_BACKPRESSURE_BYTES) {
      const { value, done } = await reader.read();
      if (done) break;
      received += value.length;
      nonZero += value.some((byte) => byte !== 0) ? 1 : 0;
    }
    expect(received).toBeGreaterThanOrEqual(4 * OUTPUT_BACKPRESSURE_BYTES);
    expect(nonZero).toBe(0);
    reader.releaseLock();
    expect(await process_._poll(), "cat is still running, blocked on its output").toBeNull();
  });
});
