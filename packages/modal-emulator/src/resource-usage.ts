import type { EngineContainer } from "@sandbox/docker-engine";

/** How often a running sandbox's memory is sampled for the memory-time integral. */
const USAGE_SAMPLE_INTERVAL_MS = 2000;
const BYTES_PER_GIB = 1024 ** 3;

/** `SandboxGetResourceUsageResponse` as the emulator fills it (no GPUs here). */
interface ResourceUsage {
  /** CPU time of every process of the sandbox, in core-nanoseconds. */
  cpuCoreNanosecs: number;
  /** Memory in use integrated over the sandbox's life, in GiB-nanoseconds. */
  memGibNanosecs: number;
  gpuNanosecs: number;
}

/** One reading of the container's cgroup through Docker's stats. */
interface Sample {
  atMs: number;
  cpuNs: number;
  memoryBytes: number;
}

/** Memory in use as `docker stats` counts it: the cgroup's usage less the inactive page cache (v2 and v1 names). */
function memoryInUse(stats: { usage?: number; stats?: Record<string, number> }): number {
  const usage = stats.usage ?? 0;
  const inactive = stats.stats?.inactive_file ?? stats.stats?.total_inactive_file ?? 0;
  return Math.max(0, usage - (inactive < usage ? inactive : 0));
}

/**
 * Meters a sandbox's container for `SandboxGetResourceUsage`. CPU time is the
 * cgroup's cumulative counter (every process: entrypoint and execs alike).
 * Memory is a time integral, so it is sampled: every
 * {@link USAGE_SAMPLE_INTERVAL_MS}, at every request, and once more when the
 * sandbox ends (before its container goes), integrated by the trapezoid rule
 * from zero at creation. After the end the totals stay as they were.
 */
export class ResourceUsageMeter {
  readonly #container: EngineContainer;
  #last: Sample;
  #memGibNs = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** One sample at a time, in order, so the integral never goes backwards. */
  #queue: Promise<void> = Promise.resolve();

  constructor(container: EngineContainer, startedAtMs: number) {
    this.#container = container;
    this.#last = { atMs: startedAtMs, cpuNs: 0, memoryBytes: 0 };
  }

  /** Starts the periodic sampling. */
  start(): void {
    this.#timer = setInterval(() => void this.sample(), USAGE_SAMPLE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Reads the container's usage now and adds it to the totals (a container that is gone adds nothing). */
  sample(): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      if (this.#stopped) return;
      const stats = await this.#container.raw.stats({ stream: false, "one-shot": true }).catch(() => undefined);
      const cpuNs = stats?.cpu_stats?.cpu_usage?.total_usage;
      // A stopped container reports zeros: keep the last real reading.
      if (!stats || !cpuNs) return;
      const sample: Sample = { atMs: Date.now(), cpuNs, memoryBytes: memoryInUse(stats.memory_stats ?? {}) };
      const elapsedNs = Math.max(0, sample.atMs - this.#last.atMs) * 1_000_000;
      this.#memGibNs += (((this.#last.memoryBytes + sample.memoryBytes) / 2) * elapsedNs) / BYTES_PER_GIB;
      this.#last = { ...sample, cpuNs: Math.max(cpuNs, this.#last.cpuNs) };
    });
    return this.#queue;
  }

  /** Takes the last sample and stops; the totals are final from then on. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.sample();
    this.#stopped = true;
  }

  /** The totals, after a fresh sample while the sandbox runs. */
  async usage(): Promise<ResourceUsage> {
    await this.sample();
    return { cpuCoreNanosecs: Math.round(this.#last.cpuNs), memGibNanosecs: Math.round(this.#memGibNs), gpuNanosecs: 0 };
  }
}
