import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type CollectGarbage = () => void;

let collector: CollectGarbage | null | undefined;

/**
 * Node's `gc()` without `--expose-gc` on the command line: the flag can be set
 * at run time and the function fetched from a fresh context. Returns `null`
 * where the runtime refuses (then the sampler measures without collecting).
 */
export function garbageCollector(): CollectGarbage | null {
  if (collector !== undefined) return collector;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    collector = typeof gc === "function" ? (gc as CollectGarbage) : null;
  } catch {
    collector = null;
  }
  return collector;
}

/** Bytes this process holds live: JS heap plus buffers outside it. */
function liveBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** What {@link measureRetainedMemory} saw. */
export interface RetainedMemory<T> {
  result: T;
  /** Largest growth of live memory over the baseline, in bytes. */
  peakGrowthBytes: number;
  /** Whether samples were taken after a forced garbage collection. */
  collected: boolean;
  samples: number;
}

/**
 * Runs `action` while sampling how much memory the host keeps alive. Each
 * sample first forces a full garbage collection (when available), so garbage
 * chunks that an adapter already dropped do not count: only what it retains
 * does. That makes "the host kept the whole output" visible without being
 * fooled by the collector's timing.
 */
export async function measureRetainedMemory<T>(action: () => Promise<T>, intervalMs = 50): Promise<RetainedMemory<T>> {
  const gc = garbageCollector();
  const sample = () => {
    gc?.();
    return liveBytes();
  };
  const baseline = sample();
  let peak = baseline;
  let samples = 0;
  const timer = setInterval(() => {
    samples += 1;
    peak = Math.max(peak, sample());
  }, intervalMs);
  try {
    const result = await action();
    return { result, peakGrowthBytes: Math.max(0, peak - baseline), collected: gc !== null, samples };
  } finally {
    clearInterval(timer);
  }
}
