import type { Distribution } from "./stats.js";

/** One measured line of a scenario: a distribution of durations, or named figures. */
export interface ResultRow {
  name: string;
  latencyMs?: Distribution;
  /** Other figures: throughput (MiB/s), peak RSS growth (MiB), errors, total time (ms), ... */
  figures?: Record<string, number | string>;
}

/** A target of the issue, checked against this run. */
export interface TargetCheck {
  name: string;
  value: number;
  limit: number;
  /** `<=`: the value must not exceed the limit; `>=`: it must reach it. */
  op: "<=" | ">=";
  met: boolean;
  unit: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  rows: ResultRow[];
  targets: TargetCheck[];
  /** Errors seen while measuring (must be 0). */
  errors: number;
  notes?: string[];
}

export function target(name: string, value: number, op: "<=" | ">=", limit: number, unit: string): TargetCheck {
  const rounded = Math.round(value * 1000) / 1000;
  return { name, value: rounded, limit, op, met: op === "<=" ? value <= limit : value >= limit, unit };
}

/** How much each scenario does: `quick` runs everything once (CI: only errors are judged). */
export interface BenchSettings {
  quick: boolean;
  image: string;
  progress: (line: string) => void;
}

/** `full` in a full run, `quick` in a quick one. */
export function size(settings: BenchSettings, full: number, quick = 1): number {
  return settings.quick ? quick : full;
}
