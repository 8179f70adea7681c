/**
 * `pnpm bench`: every scenario against its raw floor, interleaved in this one
 * process (these machines are noisy: ratios matter more than absolute
 * figures). Prints progress and a table, and writes
 * docs/benchmarks/<date>-<host>.json and .svg.
 *
 *   pnpm bench             full run (several minutes)
 *   pnpm bench --quick     every scenario once; fails only on errors (CI)
 *
 * Needs a Docker engine and the offline images (scripts/prepare-tests.sh).
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { PINNED_MODAL_SDK_VERSION } from "@sandbox/modal-emulator";
import { concurrency, fileTools, firstCommand, roundTrip, transfers } from "./local-docker-scenarios.js";
import { modalThroughEmulator } from "./modal-scenarios.js";
import { docker } from "./raw-docker.js";
import { type BenchReport, formatJson, formatSvg, formatTable } from "./report.js";
import type { BenchSettings, ScenarioResult } from "./scenario.js";

const quick = process.argv.includes("--quick");
const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length);
const started = performance.now();
const settings: BenchSettings = {
  quick,
  image: process.env.BENCH_IMAGE ?? "sandbox-busybox:latest",
  progress: (line) => process.stdout.write(`[bench +${Math.round((performance.now() - started) / 1000)}s] ${line}\n`),
};

const scenarios: Array<[string, (settings: BenchSettings) => Promise<ScenarioResult>]> = [
  ["first-command", firstCommand],
  ["round-trip", roundTrip],
  ["file-tools", fileTools],
  ["transfers", transfers],
  ["concurrency", concurrency],
  ["modal", modalThroughEmulator],
];

const engine = await docker.version().catch(() => undefined);
if (!engine) {
  console.error("bench: no Docker engine answers; run `pnpm prepare:tests` (starts one and builds the offline images) first");
  process.exit(1);
}

const results: ScenarioResult[] = [];
let failed = 0;
for (const [name, run] of scenarios) {
  if (only && !only.split(",").includes(name)) continue;
  settings.progress(`${name}: starting`);
  try {
    results.push(await run(settings));
  } catch (error) {
    failed += 1;
    results.push({ id: name, title: `${name}: FAILED`, rows: [], targets: [], errors: 1, notes: [String((error as Error).stack ?? error)] });
  }
}

const cpus = os.cpus();
const report: BenchReport = {
  date: new Date().toISOString(),
  mode: quick ? "quick" : "full",
  machine: {
    hostname: os.hostname(),
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    dockerEngine: engine.Version,
    modalSdk: PINNED_MODAL_SDK_VERSION,
  },
  durationSeconds: Math.round((performance.now() - started) / 1000),
  scenarios: results,
};
console.log(`\n${formatTable(report)}`);

const errors = results.reduce((total, result) => total + result.errors, 0);
if (!quick) {
  const directory = fileURLToPath(new URL("../../docs/benchmarks/", import.meta.url));
  const stem = `${report.date.slice(0, 10)}-${report.machine.hostname.replace(/[^a-zA-Z0-9-]/g, "_")}`;
  await mkdir(directory, { recursive: true });
  await writeFile(`${directory}${stem}.json`, formatJson(report));
  await writeFile(`${directory}${stem}.svg`, formatSvg(report));
  console.log(`\nwrote docs/benchmarks/${stem}.json and .svg`);
}
console.log(`\nbench: ${results.length} scenarios, ${errors} errors${failed ? `, ${failed} failed` : ""} (${report.durationSeconds} s)`);
process.exit(errors > 0 ? 1 : 0);
