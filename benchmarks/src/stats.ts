/** Percentiles of a sample of durations (ms). */
export interface Distribution {
  n: number;
  p50: number;
  p95: number;
  p99: number;
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

export function distribution(samples: number[]): Distribution {
  const sorted = [...samples].sort((left, right) => left - right);
  const round = (value: number) => Math.round(value * 100) / 100;
  return { n: samples.length, p50: round(percentile(sorted, 0.5)), p95: round(percentile(sorted, 0.95)), p99: round(percentile(sorted, 0.99)) };
}

/** Runs `work` and returns how long it took (ms). */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/**
 * Runs the named contestants `rounds` times each, interleaved (the order
 * rotates every round) so machine noise hits all alike; returns each one's
 * durations. `cleanup` of a contestant (what `run` returns) is not timed.
 */
export async function interleave(
  rounds: number,
  contestants: Record<string, () => Promise<(() => Promise<unknown>) | undefined>>,
  onRound?: (round: number) => void,
): Promise<Record<string, number[]>> {
  const names = Object.keys(contestants);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round += 1) {
    const order = names.map((_, index) => names[(index + round) % names.length]!);
    for (const name of order) {
      const started = performance.now();
      const cleanup = await contestants[name]!();
      samples[name]!.push(performance.now() - started);
      await cleanup?.();
    }
    onRound?.(round + 1);
  }
  return samples;
}

/** Samples this process's resident memory while `work` runs; returns the peak growth (MiB) with the result. */
export async function withPeakRss<Result>(work: () => Promise<Result>): Promise<{ result: Result; peakRssGrowthMiB: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakRssGrowthMiB: Math.round(((peak - base) / 1024 / 1024) * 10) / 10 };
  } finally {
    clearInterval(timer);
  }
}
