import { createLocalDockerSandboxPool, LocalDockerSandbox, type LocalDockerSandboxOptions } from "@sandbox/local-docker";
import { docker, rawCreate, rawDownload, rawDownloadIntoBuffer, rawExec, rawRemove, rawUpload } from "./raw-docker.js";
import { type BenchSettings, type ScenarioResult, size, target } from "./scenario.js";
import { distribution, interleave, timed, withPeakRss } from "./stats.js";

const APP = `bench-${process.pid}`;

/** Creates a sandbox with a command channel when this version of the adapter has the option; `undefined` otherwise. */
async function createWithChannel(settings: BenchSettings, channel: "agent" | "exec", extra: LocalDockerSandboxOptions = {}) {
  const options = { appName: APP, imageName: settings.image, timeoutMs: 1_800_000, commandChannel: channel, ...extra } as LocalDockerSandboxOptions;
  return LocalDockerSandbox.create(options).catch((error: unknown) => {
    if ((error as { code?: string }).code === "INVALID_OPTIONS" && String((error as Error).message).includes("commandChannel")) return undefined;
    throw error;
  });
}

function expectOk(result: { exitCode: number | null; output?: string; stdout?: string }, what: string): void {
  if (result.exitCode !== 0) throw new Error(`${what}: exit ${result.exitCode}`);
}

/** Time to first command: raw create + start + exec, a cold sandbox, a claim from a warm pool; sequential, staggered and a burst. */
export async function firstCommand(settings: BenchSettings): Promise<ScenarioResult> {
  const pool = createLocalDockerSandboxPool({ options: { appName: APP, imageName: settings.image }, size: 4, maxConcurrentStarts: 2 });
  const contestants = {
    raw: async () => {
      const container = await rawCreate(settings.image);
      expectOk(await rawExec(container, "echo ok"), "raw");
      return () => rawRemove(container);
    },
    cold: async () => {
      const sandbox = await LocalDockerSandbox.create({ appName: APP, imageName: settings.image, env: { TASK: "bench" } });
      expectOk(await sandbox.execute("echo ok"), "cold");
      return () => sandbox.close();
    },
    warm: async () => {
      const sandbox = await pool.claim({ env: { TASK: "bench" } });
      expectOk(await sandbox.execute("echo ok"), "warm");
      return () => sandbox.close();
    },
  };
  try {
    await pool.ready();
    await (await contestants.cold())(); // warm-up: image cache, the adapter's start-up reap
    const rounds = size(settings, 100);
    const sequential = await interleave(
      rounds,
      {
        raw: contestants.raw,
        cold: contestants.cold,
        warm: async () => {
          await pool.ready(); // steady state: claims spaced out find a refilled pool
          return contestants.warm();
        },
      },
      (round) => settings.progress(`first command, sequential: ${round}/${rounds}`),
    );
    const concurrent = async (count: number, spacingMs: number, run: () => Promise<() => Promise<unknown>>) => {
      await pool.ready();
      const times: number[] = [];
      const cleanups: Array<() => Promise<unknown>> = [];
      await Promise.all(
        Array.from({ length: count }, async (_, index) => {
          await new Promise((resolve) => setTimeout(resolve, index * spacingMs));
          const started = performance.now();
          cleanups.push(await run());
          times.push(performance.now() - started);
        }),
      );
      await Promise.all(cleanups.map((cleanup) => cleanup()));
      return times;
    };
    const burst = size(settings, 16, 4);
    const rows = [...(["raw", "cold", "warm"] as const).map((name) => ({ name: `sequential ${name}`, latencyMs: distribution(sequential[name]!) }))];
    for (const [label, spacing] of [
      ["staggered (every 100 ms)", 100],
      ["burst (all at once)", 0],
    ] as const) {
      for (const name of ["raw", "cold", "warm"] as const) {
        settings.progress(`first command, ${label}: ${name} x${burst}`);
        rows.push({ name: `${label} x${burst} ${name}`, latencyMs: distribution(await concurrent(burst, spacing, contestants[name])) });
      }
    }
    const p50 = (name: string) => sequential[name] && distribution(sequential[name]!).p50;
    return {
      id: "local-docker.first-command",
      title: "local-docker: time to first command (ms)",
      rows,
      targets: [target("warm p50", p50("warm")!, "<=", 50, "ms"), target("cold p50 / raw p50", p50("cold")! / p50("raw")!, "<=", 1.1, "x")],
      errors: 0,
      notes: [`pool: size 4; ${pool.stats.warmClaims} warm claims, ${pool.stats.coldCreates} cold creates`],
    };
  } finally {
    await pool.close();
  }
}

/** Command round trip: the adapter on each command channel against a raw exec on the same container. */
export async function roundTrip(settings: BenchSettings): Promise<ScenarioResult> {
  const execSandbox = (await createWithChannel(settings, "exec")) ?? (await LocalDockerSandbox.create({ appName: APP, imageName: settings.image }));
  const agentSandbox = await createWithChannel(settings, "agent");
  try {
    const container = docker.getContainer(execSandbox.id);
    const contestants: Record<string, () => Promise<undefined>> = {
      raw: async () => {
        expectOk(await rawExec(container, "echo hello"), "raw");
        return undefined;
      },
      "adapter (docker exec)": async () => {
        expectOk(await execSandbox.execute("echo hello"), "adapter");
        return undefined;
      },
    };
    if (agentSandbox) {
      contestants["adapter (fast channel)"] = async () => {
        expectOk(await agentSandbox.execute("echo hello"), "fast channel");
        return undefined;
      };
    }
    const rounds = size(settings, 200);
    for (const run of Object.values(contestants)) await run(); // warm-up
    const samples = await interleave(rounds, contestants, (round) => round % 20 === 0 && settings.progress(`round trip: ${round}/${rounds}`));
    const p50 = (name: string) => distribution(samples[name]!).p50;
    return {
      id: "local-docker.round-trip",
      title: "local-docker: command round trip `echo hello` (ms)",
      rows: Object.keys(samples).map((name) => ({ name, latencyMs: distribution(samples[name]!) })),
      targets: [
        target("adapter (docker exec) / raw p50", p50("adapter (docker exec)") / p50("raw"), "<=", 1.15, "x"),
        ...(agentSandbox ? [target("fast channel p50", p50("adapter (fast channel)"), "<=", 10, "ms")] : []),
      ],
      errors: 0,
      notes: agentSandbox ? [] : ["this adapter version has no fast command channel (commandChannel option)"],
    };
  } finally {
    await execSandbox.close();
    await agentSandbox?.close();
  }
}

/** Each deepagents file tool (the backend methods the tools call) on a tree of a few thousand files, per command channel. */
export async function fileTools(settings: BenchSettings): Promise<ScenarioResult> {
  const agent = await createWithChannel(settings, "agent");
  const exec = (await createWithChannel(settings, "exec")) ?? (await LocalDockerSandbox.create({ appName: APP, imageName: settings.image }));
  const sides = agent ? { "fast channel": agent, "docker exec": exec } : { "docker exec": exec };
  try {
    const directories = size(settings, 40, 10);
    const perDirectory = size(settings, 75, 30);
    let files = "";
    for (const sandbox of Object.values(sides)) {
      settings.progress(`file tools: writing a tree of ${directories * perDirectory} files`);
      const made = await sandbox.execute(
        `mkdir -p /work/tree && cd /work/tree && for d in $(seq 1 ${directories}); do mkdir -p d$d; for f in $(seq 1 ${perDirectory}); do echo "line one of $d/$f" > d$d/f$f.txt; done; done; printf 'needle = 1\\n' > d1/target.py; find . -type f | wc -l`,
        { timeoutMs: 300_000 },
      );
      expectOk(made, "tree");
      files = made.output.trim();
    }
    const contestants: Record<string, () => Promise<undefined>> = {};
    for (const [channel, sandbox] of Object.entries(sides)) {
      let writes = 0;
      let needle = 1;
      Object.assign(contestants, {
        [`ls (${channel})`]: async () => void (await sandbox.ls("/work/tree/d1")),
        [`read_file (${channel})`]: async () => void (await sandbox.read("/work/tree/d1/f1.txt")),
        [`write_file (${channel})`]: async () => void (await sandbox.write(`/work/tree/new-${writes++}.txt`, "hello\n")),
        [`edit_file (${channel})`]: async () => {
          const result = await sandbox.edit("/work/tree/d1/target.py", `needle = ${needle}`, `needle = ${needle + 1}`);
          if ((result as { error?: string }).error) throw new Error(`edit_file: ${(result as { error?: string }).error}`);
          needle += 1;
          return undefined;
        },
        [`grep (${channel})`]: async () => void (await sandbox.grep("needle", "/work/tree")),
        [`glob (${channel})`]: async () => void (await sandbox.glob("**/*.py", "/work/tree")),
      });
    }
    const rounds = size(settings, 20);
    const samples = await interleave(rounds, contestants, (round) => round % 5 === 0 && settings.progress(`file tools: ${round}/${rounds}`));
    const fastest = agent ? "fast channel" : "docker exec";
    const worst = Math.max(
      ...Object.entries(samples)
        .filter(([name]) => name.endsWith(`(${fastest})`))
        .map(([, values]) => distribution(values).p50),
    );
    return {
      id: "local-docker.file-tools",
      title: `local-docker: deepagents file tools on a tree of ${files} files (ms per call)`,
      rows: Object.keys(samples).map((name) => ({ name, latencyMs: distribution(samples[name]!) })),
      targets: [target(`slowest tool p50 (${fastest})`, worst, "<=", 15, "ms")],
      errors: 0,
    };
  } finally {
    await agent?.close();
    await exec.close();
  }
}

/** Upload and download of 1 KiB, 1 MiB and 100 MiB: throughput against the raw archive API, with peak host memory. */
export async function transfers(settings: BenchSettings): Promise<ScenarioResult> {
  const sandbox = await LocalDockerSandbox.create({ appName: APP, imageName: settings.image, timeoutMs: 1_800_000 });
  const container = docker.getContainer(sandbox.id);
  const rows: ScenarioResult["rows"] = [];
  const targets: ScenarioResult["targets"] = [];
  try {
    for (const [label, bytes, fullRounds] of [
      ["1 KiB", 1024, 30],
      ["1 MiB", 1024 * 1024, 10],
      ["100 MiB", 100 * 1024 * 1024, 5],
    ] as const) {
      const payload = new Uint8Array(bytes).map((_, index) => index % 251);
      let archiveBytes = bytes + 2048;
      const rounds = size(settings, fullRounds);
      settings.progress(`transfers: ${label} x${rounds}`);
      const measured = await withPeakRss(() =>
        interleave(rounds, {
          "adapter upload": async () => {
            const [result] = await sandbox.uploadFiles([["/tmp/bench/adapter.bin", payload]]);
            if (result?.error) throw new Error(`upload: ${result.error}`);
            return undefined;
          },
          "raw upload": async () => {
            await rawUpload(container, "/tmp/bench", "raw.bin", payload);
            return undefined;
          },
          "adapter download": async () => {
            const [result] = await sandbox.downloadFiles(["/tmp/bench/adapter.bin"]);
            if (result?.content?.length !== bytes) throw new Error(`download: ${result?.error ?? result?.content?.length}`);
            return undefined;
          },
          "raw download": async () => {
            archiveBytes = await rawDownload(container, "/tmp/bench/raw.bin");
            return undefined;
          },
          "raw download into one buffer": async () => {
            await rawDownloadIntoBuffer(container, "/tmp/bench/raw.bin", archiveBytes);
            return undefined;
          },
        }),
      );
      const throughput = (name: string) => bytes / 1024 / 1024 / (distribution(measured.result[name]!).p50 / 1000);
      for (const name of Object.keys(measured.result)) {
        rows.push({
          name: `${label} ${name}`,
          latencyMs: distribution(measured.result[name]!),
          figures: { "MiB/s (p50)": Math.round(throughput(name) * 10) / 10 },
        });
      }
      rows.push({ name: `${label} peak host RSS growth`, figures: { MiB: measured.peakRssGrowthMiB } });
      if (label === "100 MiB") {
        targets.push(target("100 MiB upload throughput / raw", throughput("adapter upload") / throughput("raw upload"), ">=", 0.8, "x"));
        targets.push(target("100 MiB download throughput / raw", throughput("adapter download") / throughput("raw download"), ">=", 0.8, "x"));
        targets.push(target("peak host RSS growth during 100 MiB transfers", measured.peakRssGrowthMiB, "<=", 512, "MiB"));
      }
    }
    return {
      id: "local-docker.transfers",
      title: "local-docker: file transfer (ms per file)",
      rows,
      targets,
      errors: 0,
      notes: [
        "raw download only counts the archive's bytes; raw download into one buffer also writes them into one buffer of the file's size, as any call that returns the content must (the target is against raw download)",
      ],
    };
  } finally {
    await sandbox.close();
  }
}

/** N sandboxes x M commands at once: total time, errors, memory. */
export async function concurrency(settings: BenchSettings): Promise<ScenarioResult> {
  const sandboxes = size(settings, 32, 8);
  const commands = size(settings, 20, 5);
  let errors = 0;
  const firstErrors: string[] = [];
  const note = (error: unknown) => {
    errors += 1;
    if (firstErrors.length < 3) firstErrors.push(String((error as Error).message ?? error));
  };
  settings.progress(`concurrency: ${sandboxes} sandboxes x ${commands} commands`);
  const measured = await withPeakRss(async () => {
    const started = performance.now();
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: sandboxes }, async (_, index) => {
        const sandbox = await LocalDockerSandbox.create({ appName: APP, imageName: settings.image }).catch((error: unknown) => {
          note(error);
          return undefined;
        });
        if (!sandbox) return;
        try {
          for (let command = 0; command < commands; command += 1) {
            const elapsed = await timed(async () => {
              const result = await sandbox.execute(`echo ${index}-${command}`);
              if (result.exitCode !== 0 || result.output !== `${index}-${command}\n`)
                throw new Error(`sandbox ${index} command ${command}: ${JSON.stringify(result)}`);
            }).catch((error: unknown) => {
              note(error);
              return undefined;
            });
            if (elapsed !== undefined) latencies.push(elapsed);
          }
        } finally {
          await sandbox.close().catch(note);
        }
      }),
    );
    return { totalMs: performance.now() - started, latencies };
  });
  return {
    id: "local-docker.concurrency",
    title: `local-docker: ${sandboxes} sandboxes x ${commands} commands at once`,
    rows: [
      { name: "command latency", latencyMs: distribution(measured.result.latencies) },
      { name: "total", figures: { ms: Math.round(measured.result.totalMs), errors, "peak host RSS growth MiB": measured.peakRssGrowthMiB } },
    ],
    targets: [target(`${sandboxes} x ${commands} errors`, errors, "<=", 0, "")],
    errors,
    notes: firstErrors,
  };
}
