// `pnpm bench`: the speed report (issue 13). Every scenario runs interleaved
// with its raw floor in this one process, so machine noise hits both sides
// alike; the report prints p50 / p95 / p99 and ratios against the floor,
// never pass/fail timings (except errors, which must be 0). It writes every
// figure, with CPU, engine and Node versions, to
// docs/benchmarks/<date>-<machine>.json and a chart to the same name .svg.
//
//   pnpm bench              full report (BENCH_ROUNDS, default 30 rounds per scenario;
//                           the deepagents tools at most 5, 100 MiB transfers 3)
//   pnpm bench --quick      every scenario once, asserting 0 errors (CI); writes nothing
//
// Scenarios (local-docker on the local engine, image sandbox-busybox:latest):
//   - command round trip: raw dockerode exec, LocalDockerSandbox over docker exec
//     (commandChannel "exec"), and over the command agent (the default);
//   - time to first command: raw create + start + exec, cold create + execute,
//     warm pool claim + execute (sequential), and a burst of 16 concurrent;
//   - deepagents file tools (ls, read, write, edit, grep, glob) on a tree of
//     2000 files, through the agent and through docker exec;
//   - upload / download of 1 KiB and 1 MiB (100 MiB in full mode) against the
//     raw archive API, with peak host RSS;
//   - 32 sandboxes x 20 commands concurrently: total time, errors (must be 0);
//   - @sandbox/modal against the raw modal SDK through the emulator
//     (packages/modal/bench, run as a child process; its figures are quoted).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import tar from "tar-stream";
import { createLocalDockerSandboxPool, LocalDockerSandbox } from "../dist/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const QUICK = process.argv.includes("--quick");
const ROUNDS = QUICK ? 1 : Number(process.env.BENCH_ROUNDS ?? 30);
const IMAGE = process.env.BENCH_IMAGE ?? "sandbox-busybox:latest";
const APP = `bench-${process.pid}`;
const docker = new Docker();
const errors = [];
const results = { scenarios: {} };

const log = (line) => process.stdout.write(`${line}\n`);
const progress = (text) => process.stdout.write(`\r${text}`.padEnd(60));

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
  return { n: sorted.length, p50: at(50), p95: at(95), p99: at(99) };
}

/** Runs `sides` (name -> async fn returning a cleanup or nothing) interleaved, rotating the order each round. */
async function interleaved(title, sides, rounds = ROUNDS) {
  const names = Object.keys(sides);
  const times = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round += 1) {
    const order = names.map((_, index) => names[(index + round) % names.length]);
    for (const name of order) {
      try {
        const started = performance.now();
        const cleanup = await sides[name]();
        times[name].push(performance.now() - started);
        if (typeof cleanup === "function") await cleanup();
      } catch (error) {
        errors.push(`${title} / ${name}: ${error?.message ?? error}`);
      }
    }
    progress(`${title}: round ${round + 1}/${rounds}`);
  }
  process.stdout.write("\n");
  const figures = Object.fromEntries(names.map((name) => [name, stats(times[name])]));
  const floor = figures[names[0]].p50;
  log(`${title}`);
  for (const name of names) {
    const f = figures[name];
    f.ratio = f.p50 / floor;
    log(
      `  ${name.padEnd(34)} p50 ${f.p50?.toFixed(1).padStart(8)} ms  p95 ${f.p95?.toFixed(1).padStart(8)} ms  p99 ${f.p99?.toFixed(1).padStart(8)} ms  ${f.ratio.toFixed(2)}x ${names[0]}`,
    );
  }
  results.scenarios[title] = figures;
  return figures;
}

async function drain(stream) {
  await new Promise((resolve, reject) => {
    docker.modem.demuxStream(stream, { write() {} }, { write() {} });
    stream.on("end", resolve);
    stream.on("error", reject);
  });
}

async function rawExec(container, command = "echo ok") {
  const exec = await container.exec({ Cmd: ["sh", "-c", command], AttachStdout: true, AttachStderr: true });
  await drain(await exec.start({ hijack: true, stdin: false }));
  let info = await exec.inspect();
  while (info.Running) info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`raw exec exited ${info.ExitCode}`);
}

async function rawCreate() {
  const container = await docker.createContainer({
    Image: IMAGE,
    Entrypoint: ["sleep"],
    Cmd: ["300"],
    Labels: { "dev.sandbox.managed": "true", "dev.sandbox.app": APP },
    HostConfig: { Init: true, AutoRemove: true, SecurityOpt: ["no-new-privileges"], PidsLimit: 128, NetworkMode: "bridge" },
  });
  await container.start();
  return container;
}

const expectOk = (result) => {
  if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${result.output.slice(0, 200)}`);
};

function machine() {
  let engine = "unknown";
  try {
    engine = execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).trim();
  } catch {}
  return {
    host: hostname(),
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    engine,
    loadAverageAtStart: loadAverage(),
  };
}

function loadAverage() {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
  } catch {
    return undefined;
  }
}

let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

const cleanups = [];
try {
  results.machine = machine();
  log(
    `sandbox speed report${QUICK ? " (quick: every scenario once)" : `, ${ROUNDS} rounds`}; image ${IMAGE}; ${results.machine.cores} cores, engine ${results.machine.engine}, Node ${process.version}`,
  );

  // ---- command round trip ------------------------------------------------------
  const viaAgent = await LocalDockerSandbox.create({ imageName: IMAGE, appName: APP, timeoutMs: 3_600_000 });
  cleanups.push(() => viaAgent.close());
  const viaExec = await LocalDockerSandbox.create({ imageName: IMAGE, appName: APP, timeoutMs: 3_600_000, commandChannel: "exec" });
  cleanups.push(() => viaExec.close());
  const channel = await viaAgent.commandChannelReady();
  if (channel !== "agent") errors.push(`the command agent did not start (channel ${channel}): is gcc installed? run pnpm build`);
  const floorContainer = docker.getContainer(viaExec.id);
  for (let i = 0; i < 3; i += 1) {
    await viaAgent.execute("true");
    await viaExec.execute("true");
  }
  await interleaved(
    "command round trip (echo ok)",
    {
      "raw dockerode exec": () => rawExec(floorContainer),
      "LocalDockerSandbox, docker exec": async () => expectOk(await viaExec.execute("echo ok")),
      "LocalDockerSandbox, command agent": async () => expectOk(await viaAgent.execute("echo ok")),
    },
    QUICK ? 1 : ROUNDS * 3,
  );

  // ---- time to first command -----------------------------------------------------
  const pool = createLocalDockerSandboxPool({ options: { appName: APP, imageName: IMAGE }, size: 2, maxConcurrentStarts: 1 });
  cleanups.push(() => pool.close());
  await pool.ready();
  const warmOnly = [];
  await interleaved("time to first command (sequential)", {
    "raw create + start + exec": async () => {
      const container = await rawCreate();
      await rawExec(container);
      return () => container.remove({ force: true }).catch(() => undefined);
    },
    "cold create + execute": async () => {
      const sandbox = await LocalDockerSandbox.create({ appName: APP, imageName: IMAGE, env: { TASK: "bench" } });
      expectOk(await sandbox.execute("echo ok"));
      return () => sandbox.close();
    },
    "warm pool claim + execute": async () => {
      await pool.ready(); // steady state: claims find a refilled pool
      const started = performance.now();
      const sandbox = await pool.claim({ env: { TASK: "bench" } });
      expectOk(await sandbox.execute("echo ok"));
      warmOnly.push(performance.now() - started);
      return () => sandbox.close();
    },
  });
  results.scenarios["warm claim to first command (excluding the wait for a refilled pool)"] = stats(warmOnly);
  log(`  warm claim alone: p50 ${stats(warmOnly).p50?.toFixed(1)} ms (target <= 50 ms)`);

  const burst = QUICK ? 4 : 16;
  await interleaved(
    `time to first command (burst of ${burst} concurrent creates, whole burst)`,
    {
      "raw create + start + exec": async () => {
        const containers = await Promise.all(
          Array.from({ length: burst }, async () => {
            const container = await rawCreate();
            await rawExec(container);
            return container;
          }),
        );
        return () => Promise.all(containers.map((container) => container.remove({ force: true }).catch(() => undefined)));
      },
      "cold create + execute": async () => {
        const sandboxes = await Promise.all(
          Array.from({ length: burst }, async () => {
            const sandbox = await LocalDockerSandbox.create({ appName: APP, imageName: IMAGE });
            expectOk(await sandbox.execute("echo ok"));
            return sandbox;
          }),
        );
        return () => Promise.all(sandboxes.map((sandbox) => sandbox.close()));
      },
    },
    QUICK ? 1 : Math.max(1, Math.floor(ROUNDS / 10)),
  );

  // ---- deepagents file tools -------------------------------------------------------
  const files = QUICK ? 200 : 2000;
  const tree = `mkdir -p /work/tree && cd /work/tree && i=0; while [ $i -lt ${files} ]; do d=d$((i % 40)); mkdir -p $d; echo "line $i needle-$((i % 7))" > $d/f$i.txt; i=$((i + 1)); done`;
  for (const sandbox of [viaAgent, viaExec]) expectOk(await sandbox.execute(tree, { timeoutMs: 600_000 }));
  const tools = {
    ls: (s) => s.ls("/work/tree/d1"),
    read: (s) => s.read("/work/tree/d1/f1.txt"),
    write: (s) => s.write(`/work/tree/new-${Math.random().toString(36).slice(2)}.txt`, "hello"),
    edit: async (s) => {
      const path = `/work/tree/e-${Math.random().toString(36).slice(2)}.txt`;
      await s.write(path, "alpha beta");
      return s.edit(path, "alpha", "gamma");
    },
    grep: (s) => s.grep("needle-3", "/work/tree"),
    glob: (s) => s.glob("**/f1*.txt", "/work/tree"),
  };
  const toolRows = {};
  for (const [name, call] of Object.entries(tools)) {
    const figures = await interleaved(
      `deepagents ${name} (${files} files)`,
      {
        "docker exec": async () => {
          const result = await call(viaExec);
          if (result?.error) throw new Error(result.error);
        },
        "command agent": async () => {
          const result = await call(viaAgent);
          if (result?.error) throw new Error(result.error);
        },
      },
      QUICK ? 1 : Math.min(ROUNDS, 5),
    );
    toolRows[name] = figures;
  }

  // ---- upload / download ----------------------------------------------------------
  const sizes = QUICK ? [1024, 1024 * 1024] : [1024, 1024 * 1024, 100 * 1024 * 1024];
  for (const size of sizes) {
    const payload = Buffer.alloc(size, 7);
    const label = size >= 1024 * 1024 ? `${size / 1024 / 1024} MiB` : `${size / 1024} KiB`;
    const rounds = QUICK ? 1 : size >= 100 * 1024 * 1024 ? 3 : ROUNDS;
    const rawPut = async () => {
      const pack = tar.pack();
      pack.entry({ name: "raw.bin", size }, payload);
      pack.finalize();
      await floorContainer.putArchive(pack, { path: "/tmp" });
    };
    peakRss = 0;
    const up = await interleaved(
      `upload ${label}`,
      {
        "raw putArchive": rawPut,
        uploadFiles: async () => {
          const [result] = await viaAgent.uploadFiles([["/tmp/up.bin", payload]]);
          if (result.error) throw new Error(result.error);
        },
      },
      rounds,
    );
    up.peakHostRssMiB = Math.round(peakRss / 2 ** 20);
    await rawPut();
    peakRss = 0;
    const down = await interleaved(
      `download ${label}`,
      {
        "raw getArchive": async () => {
          const stream = await floorContainer.getArchive({ path: "/tmp/raw.bin" });
          for await (const _ of stream);
        },
        downloadFiles: async () => {
          const [result] = await viaExec.downloadFiles(["/tmp/raw.bin"]);
          if (result.error || result.content.byteLength !== size) throw new Error(result.error ?? "short read");
        },
      },
      rounds,
    );
    down.peakHostRssMiB = Math.round(peakRss / 2 ** 20);
    // uploadFiles wrote to viaAgent; downloadFiles read from the floor container's sandbox (viaExec): same engine, same size.
  }

  // ---- 32 x 20 concurrently ---------------------------------------------------------
  const fleet = QUICK ? 4 : 32;
  const perSandbox = QUICK ? 3 : 20;
  peakRss = 0;
  const fleetStarted = performance.now();
  let fleetErrors = 0;
  const sandboxes = await Promise.all(
    Array.from({ length: fleet }, () =>
      LocalDockerSandbox.create({ appName: APP, imageName: IMAGE }).catch((error) => {
        fleetErrors += 1;
        errors.push(`fleet create: ${error.message}`);
        return undefined;
      }),
    ),
  );
  await Promise.all(
    sandboxes.filter(Boolean).map(async (sandbox) => {
      for (let i = 0; i < perSandbox; i += 1) {
        const result = await sandbox.execute(`echo ${i}`).catch((error) => ({ exitCode: -1, output: error.message }));
        if (result.exitCode !== 0 || result.output !== `${i}\n`) {
          fleetErrors += 1;
          errors.push(`fleet command: ${result.output}`);
        }
      }
    }),
  );
  const fleetMs = performance.now() - fleetStarted;
  await Promise.all(sandboxes.filter(Boolean).map((sandbox) => sandbox.close()));
  results.scenarios[`${fleet} sandboxes x ${perSandbox} commands concurrently`] = {
    totalMs: fleetMs,
    errors: fleetErrors,
    peakHostRssMiB: Math.round(peakRss / 2 ** 20),
  };
  log(
    `${fleet} sandboxes x ${perSandbox} commands concurrently: ${(fleetMs / 1000).toFixed(1)} s, ${fleetErrors} errors, peak host RSS ${Math.round(peakRss / 2 ** 20)} MiB`,
  );
} catch (error) {
  errors.push(`bench aborted: ${error?.stack ?? error}`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  clearInterval(rssTimer);
}

// ---- @sandbox/modal vs the raw modal SDK through the emulator ----------------------
log("@sandbox/modal vs the raw modal SDK through the emulator (packages/modal/bench)");
const modal = spawnSync("pnpm", ["--filter", "@sandbox/modal", "bench"], {
  cwd: root,
  encoding: "utf8",
  env: { ...process.env, BENCH_ITERATIONS: QUICK ? "2" : String(Math.max(20, ROUNDS * 2)), BENCH_WARMUP: QUICK ? "1" : "5" },
  timeout: 1_800_000,
});
const modalOutput = `${modal.stdout ?? ""}${modal.stderr ?? ""}`;
if (modal.status !== 0) errors.push(`modal bench exited ${modal.status}: ${modalOutput.slice(-500)}`);
// Its table: from the header row ("call ...") to the verdict ("worst ratio ...").
const modalAll = modalOutput.split("\n");
const modalStart = modalAll.findIndex((line) => /^\s*call\s/.test(line));
const modalLines = (modalStart < 0 ? modalAll.filter((line) => /ratio/i.test(line)) : modalAll.slice(modalStart)).filter(
  (line) => line.trim() !== "" && !/ELIFECYCLE|^>/.test(line),
);
for (const line of modalLines) log(`  ${line.trim()}`);
results.scenarios["@sandbox/modal vs raw modal SDK (emulator)"] = { lines: modalLines.map((line) => line.trim()) };

results.errors = errors;
log(`errors: ${errors.length}`);
for (const error of errors) log(`  ${error}`);

if (!QUICK) {
  const date = new Date().toISOString().slice(0, 10);
  const name = `${date}-${results.machine?.host ?? "machine"}`.replace(/[^A-Za-z0-9_.-]/g, "-");
  const directory = join(root, "docs", "benchmarks");
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, `${name}.json`), `${JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, image: IMAGE, ...results }, null, 2)}\n`);
  writeFileSync(join(directory, `${name}.svg`), chart(results.scenarios));
  log(`wrote docs/benchmarks/${name}.json and .svg`);
}
process.exit(errors.length === 0 ? 0 : 1);

/** A horizontal bar chart of every scenario's p50 per side (log scale), ratios in the labels. */
function chart(scenarios) {
  const rows = [];
  for (const [title, figures] of Object.entries(scenarios)) {
    const sides = Object.entries(figures).filter(([, value]) => value && typeof value === "object" && typeof value.p50 === "number");
    if (sides.length === 0) continue;
    rows.push({ title });
    for (const [side, value] of sides) rows.push({ side, p50: value.p50, ratio: value.ratio });
  }
  const max = Math.max(...rows.filter((row) => row.p50).map((row) => row.p50), 1);
  const scale = (ms) => (Math.log10(Math.max(ms, 0.1) * 10) / Math.log10(max * 10)) * 420;
  const lineHeight = 18;
  const height = rows.length * lineHeight + 40;
  const escapeXml = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  let y = 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="${height}" font-family="sans-serif" font-size="12">`,
    "<title>sandbox speed report: p50 per side and ratio to the raw floor</title>",
    `<text x="10" y="18" font-weight="bold">sandbox speed report: p50 per side (log scale), ratio to the first (raw) side</text>`,
  ];
  for (const row of rows) {
    if (row.title) {
      parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${escapeXml(row.title)}</text>`);
    } else {
      const width = Math.max(1, scale(row.p50));
      parts.push(`<text x="20" y="${y + 12}">${escapeXml(row.side)}</text>`);
      parts.push(`<rect x="300" y="${y + 2}" width="${width.toFixed(1)}" height="12" fill="${row.ratio <= 1.05 ? "#3a7" : "#c84"}"/>`);
      parts.push(`<text x="${(305 + width).toFixed(1)}" y="${y + 12}">${row.p50.toFixed(1)} ms (${row.ratio.toFixed(2)}x)</text>`);
    }
    y += lineHeight;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
