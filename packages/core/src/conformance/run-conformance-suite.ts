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

/**
 * Registers the whole conformance suite for `target`: the one call in an
 * adapter's `*.conformance.test.ts`. Each group is a `describe` of its own
 * and shares one sandbox among the cases that do not interfere; every
 * sandbox is closed in `afterAll` and checked gone with `target.exists`.
 * Cases a capability gates are skipped with the reason in their title, and
 * asking for a missing capability is checked to fail loudly instead.
 *
 * Runs against a real provider: no mocks. Give vitest no global timeout:
 * every case carries its own budget, scaled by `target.timeouts`.
 */
export function runConformanceSuite<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  lifecycleConformance(target);
  executeConformance(target);
  filesConformance(target);
  fileOperationsConformance(target);
  optionsConformance(target);
  errorsConformance(target);
  processesConformance(target);
  abuseConformance(target);
  badInputsConformance(target);
}
