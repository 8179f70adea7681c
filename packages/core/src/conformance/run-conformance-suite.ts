import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { abuseConformance } from "./abuse-conformance.js";
import { badInputsConformance } from "./bad-inputs-conformance.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { errorsConformance } from "./errors-conformance.js";
import { executeConformance } from "./execute-conformance.js";
import { fileOperationsConformance } from "./file-operations-conformance.js";
import { filesConformance } from "./files-conformance.js";
import { lifecycleConformance } from "./lifecycle-conformance.js";
import { optionsConformance } from "./options-conformance.js";
import { processesConformance } from "./processes-conformance.js";

type ConformanceGroup = <S extends SandboxBackend>(target: ConformanceTarget<S>) => void;

/**
 * Every group of the suite, in the order a whole run registers them, each
 * with its rough share of a run's time, which is all {@link conformanceShard}
 * needs to balance the shards: seconds against local-docker with three test
 * files at once on a busy 2-core machine, where the groups that move 100 MiB
 * (files, processes) weigh far more than when run alone.
 */
const CONFORMANCE_GROUPS: ReadonlyArray<{ name: string; register: ConformanceGroup; weight: number }> = [
  { name: "lifecycle", register: lifecycleConformance, weight: 97 },
  { name: "execute", register: executeConformance, weight: 45 },
  { name: "files", register: filesConformance, weight: 139 },
  { name: "file operations", register: fileOperationsConformance, weight: 26 },
  { name: "options", register: optionsConformance, weight: 38 },
  { name: "errors", register: errorsConformance, weight: 25 },
  { name: "processes", register: processesConformance, weight: 237 },
  { name: "abuse", register: abuseConformance, weight: 43 },
  { name: "bad inputs", register: badInputsConformance, weight: 50 },
];

/** Which part of the suite one test file registers: shard `index` (from 1) of `count`. */
export interface ConformanceShard {
  index: number;
  count: number;
}

/** Options of {@link runConformanceSuite}. */
export interface ConformanceSuiteOptions {
  /**
   * Registers only this shard of the groups, so that `count` test files
   * (one per index, 1 to `count`) together run the whole suite, in parallel
   * when the test runner runs files in parallel. Every group lands in exactly
   * one shard; the split is fixed (no randomness) and balanced by each
   * group's typical duration. Default: the whole suite in one file.
   */
  shard?: ConformanceShard;
}

/**
 * The names of the groups shard `index` of `count` registers (longest
 * first onto the least loaded shard). Every group is in exactly one shard.
 */
export function conformanceShard({ index, count }: ConformanceShard): string[] {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 1 || index > count) {
    throw new RangeError(`a conformance shard is a whole index from 1 to a whole count of at least 1, got ${index} of ${count}`);
  }
  const loads = Array.from({ length: count }, () => 0);
  const names = Array.from({ length: count }, () => new Set<string>());
  for (const group of [...CONFORMANCE_GROUPS].sort((a, b) => b.weight - a.weight)) {
    const lightest = loads.indexOf(Math.min(...loads));
    loads[lightest]! += group.weight;
    names[lightest]!.add(group.name);
  }
  const chosen = names[index - 1]!;
  return CONFORMANCE_GROUPS.filter((group) => chosen.has(group.name)).map((group) => group.name);
}

/**
 * Registers the whole conformance suite for `target`: the one call in an
 * adapter's `*.conformance.test.ts` (or, with `options.shard`, one part of
 * it per file). Each group is a `describe` of its own and shares one
 * sandbox among the cases that do not interfere; every sandbox is closed in
 * `afterAll` and checked gone with `target.exists`. Cases a capability gates
 * are skipped with the reason in their title, and asking for a missing
 * capability is checked to fail loudly instead.
 *
 * Runs against a real provider: no mocks. Give vitest no global timeout:
 * every case carries its own budget, scaled by `target.timeouts`.
 */
export function runConformanceSuite<S extends SandboxBackend>(target: ConformanceTarget<S>, options: ConformanceSuiteOptions = {}): void {
  const names = options.shard ? new Set(conformanceShard(options.shard)) : undefined;
  for (const group of CONFORMANCE_GROUPS) {
    if (names === undefined || names.has(group.name)) group.register(target);
  }
}
