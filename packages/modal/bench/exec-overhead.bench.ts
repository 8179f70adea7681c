/**
 * Adapter overhead: one @sandbox/modal call against the same raw modal SDK
 * call, side by side in one process, on the same sandbox, through
 * @sandbox/modal-emulator (run in its own process, as a server is).
 *
 *   pnpm --filter @sandbox/modal bench        (needs a Docker engine and the offline images)
 *
 * Pairs, interleaved (adapter, raw, adapter, raw, ...) so that drift on a
 * busy machine hits both sides alike:
 *   - execute("echo ...")     vs  instance.exec(["sh", "-c", ...]) + read stdout and stderr concurrently + wait()
 *   - uploadFiles([[p, 4 KiB]]) vs instance.filesystem.writeBytes(4 KiB, p)
 *   - downloadFiles([p])       vs instance.filesystem.readBytes(p)
 *
 * Prints median, p90 and mean per side, the ratio of medians (adapter / raw;
 * the target is at most 1.05), and the client-side CPU time per call of each
 * side (what the adapter itself costs, whatever the server's load).
 *
 * Environment: BENCH_ITERATIONS (default 150 per side and pair), BENCH_WARMUP (default 15).
 */
import { performance } from "node:perf_hooks";
import type { Sandbox } from "modal";
import { ModalSandbox } from "../src/index.js";
import { dockerAvailable, startEmulatorSession } from "../test/support/emulator.js";

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 150);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 15);
const TARGET_RATIO = 1.05;

interface Pair {
  name: string;
  adapter: () => Promise<unknown>;
  raw: () => Promise<unknown>;
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((left, right) => left - right);
  return {
    median: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    mean: samples.reduce((total, sample) => total + sample, 0) / samples.length,
  };
}

async function rawExec(instance: Sandbox, command: string): Promise<{ output: string; exitCode: number }> {
  const process = await instance.exec(["sh", "-c", command], { mode: "binary", stdout: "pipe", stderr: "pipe" });
  const decoder = new TextDecoder();
  let output = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) output += decoder.decode(chunk, { stream: true });
  };
  const [exitCode] = await Promise.all([process.wait(), drain(process.stdout), drain(process.stderr)]);
  return { output, exitCode };
}

interface Samples {
  adapter: number[];
  raw: number[];
  /** Client-side CPU time (user + system) per call in this process, in ms: independent of server load. */
  adapterCpu: number[];
  rawCpu: number[];
}

async function measure(pair: Pair): Promise<Samples> {
  for (let index = 0; index < WARMUP; index++) {
    await pair.adapter();
    await pair.raw();
  }
  const samples: Samples = { adapter: [], raw: [], adapterCpu: [], rawCpu: [] };
  for (let index = 0; index < ITERATIONS; index++) {
    // Alternate which side goes first, so neither always follows the other.
    const order = index % 2 === 0 ? (["adapter", "raw"] as const) : (["raw", "adapter"] as const);
    for (const side of order) {
      const cpu = process.cpuUsage();
      const start = performance.now();
      await pair[side]();
      const elapsed = performance.now() - start;
      const used = process.cpuUsage(cpu);
      samples[side].push(elapsed);
      samples[side === "adapter" ? "adapterCpu" : "rawCpu"].push((used.user + used.system) / 1000);
    }
  }
  return samples;
}

if (!(await dockerAvailable())) {
  console.error("bench: no Docker engine answers; start one (bash scripts/start-docker-engine.sh) and build the offline images");
  process.exit(1);
}

const session = await startEmulatorSession();
const sandbox = await ModalSandbox.create({ appName: "bench", timeoutMs: 1_800_000 });
try {
  const instance = sandbox.instance;
  const payload = new Uint8Array(4096).map((_, index) => index % 251);
  await sandbox.uploadFiles([["/tmp/bench/read.bin", payload]]);
  let counter = 0;
  const pairs: Pair[] = [
    {
      name: 'execute("echo hello")',
      adapter: () => sandbox.execute("echo hello"),
      raw: () => rawExec(instance, "echo hello"),
    },
    {
      name: "upload one 4 KiB file",
      adapter: () => sandbox.uploadFiles([[`/tmp/bench/adapter-${counter++ % 8}.bin`, payload]]),
      raw: () => instance.filesystem.writeBytes(payload, `/tmp/bench/raw-${counter++ % 8}.bin`),
    },
    {
      name: "download one 4 KiB file",
      adapter: () => sandbox.downloadFiles(["/tmp/bench/read.bin"]),
      raw: () => instance.filesystem.readBytes("/tmp/bench/read.bin"),
    },
  ];

  console.log(`@sandbox/modal vs raw modal@0.11.1 SDK through @sandbox/modal-emulator: ${ITERATIONS} interleaved calls per side (+${WARMUP} warm-up)\n`);
  console.log(
    [
      "call".padEnd(26),
      "adapter median/p90/mean ms".padEnd(30),
      "raw median/p90/mean ms".padEnd(28),
      "ratio (medians)".padEnd(16),
      "client CPU ms/call adapter vs raw",
    ].join(" "),
  );
  let worst = 0;
  for (const pair of pairs) {
    const samples = await measure(pair);
    const adapter = summary(samples.adapter);
    const raw = summary(samples.raw);
    const ratio = adapter.median / raw.median;
    worst = Math.max(worst, ratio);
    const cell = (stats: ReturnType<typeof summary>) => `${stats.median.toFixed(2)} / ${stats.p90.toFixed(2)} / ${stats.mean.toFixed(2)}`;
    const cpu = `${summary(samples.adapterCpu).mean.toFixed(2)} vs ${summary(samples.rawCpu).mean.toFixed(2)}`;
    console.log([pair.name.padEnd(26), cell(adapter).padEnd(30), cell(raw).padEnd(28), ratio.toFixed(3).padEnd(16), cpu].join(" "));
  }
  console.log(`\nworst ratio ${worst.toFixed(3)} (target <= ${TARGET_RATIO}): ${worst <= TARGET_RATIO ? "within target" : "ABOVE TARGET"}`);
} finally {
  await sandbox.close();
  await session.stop();
}
