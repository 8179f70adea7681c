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

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Live memory after two full collections, read without giving the event loop
 * a turn in between. One collection is not enough: V8 frees the backing
 * stores of dead ArrayBuffers (every output chunk) on a background sweeper and
 * accounts for them later, so memory read right after one `gc()` can still
 * count megabytes of dead buffers; the second collection first completes the
 * first one's sweep. Letting the event loop run in between (a timer) does not
 * work either: new output chunks arrive and count until the next collection.
 * Without a collector, plain live memory (garbage included).
 */
function settledLiveBytes(gc: CollectGarbage | null): number {
  if (gc) {
    gc();
    gc();
  }
  return liveBytes();
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
 * sample first forces a full garbage collection (when available) and lets the
 * sweep of dead buffers settle, so output chunks an adapter already dropped do
 * not count: only what it retains does. That makes "the host kept the whole
 * output" visible without being fooled by the collector's timing.
 *
 * Two full collections block the event loop (up to a second on a large test
 * heap), so samples are sparse: the command under test should hold still for
 * seconds at the moments that matter (e.g. `sleep 3` after each burst), and
 * each such pause must be longer than `intervalMs` plus one sample.
 */
export async function measureRetainedMemory<T>(action: () => Promise<T>, intervalMs = 1_000): Promise<RetainedMemory<T>> {
  const gc = garbageCollector();
  const baseline = settledLiveBytes(gc);
  let peak = baseline;
  let samples = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      await wait(intervalMs);
      if (done) break;
      const bytes = settledLiveBytes(gc);
      samples += 1;
      peak = Math.max(peak, bytes);
    }
  })();
  try {
    const result = await action();
    return { result, peakGrowthBytes: Math.max(0, peak - baseline), collected: gc !== null, samples };
  } finally {
    done = true;
    await sampling;
  }
}
