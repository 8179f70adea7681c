/**
 * `@sandbox/core/conformance`: the conformance suite every sandbox adapter
 * runs to prove it honours the contract. Depends on vitest (an optional peer
 * dependency of `@sandbox/core`); nothing in core's main entry imports it.
 *
 * @example
 * ```ts
 * // my-adapter.conformance.test.ts
 * import { runConformanceSuite } from "@sandbox/core/conformance";
 * import { MySandbox, sandboxExists } from "../src/index.js";
 *
 * runConformanceSuite({
 *   name: "my-provider",
 *   create: (options) => MySandbox.create(options),
 *   construct: (options) => new MySandbox(options),
 *   fromId: (id) => MySandbox.fromId(id),
 *   exists: (id) => sandboxExists(id),
 * });
 * ```
 */

export { abuseConformance } from "./abuse-conformance.js";
export { badInputsConformance } from "./bad-inputs-conformance.js";
export {
  type ConformanceFixtures,
  type ConformancePaths,
  type ConformanceTarget,
  type ConformanceTimeouts,
  DEFAULT_CONFORMANCE_TIMEOUTS,
  SHARED_SANDBOX_LIFETIME_MS,
} from "./conformance-target.js";
export { errorsConformance } from "./errors-conformance.js";
export { executeConformance } from "./execute-conformance.js";
export {
  assertSandboxError,
  expectSandboxError,
  type SandboxErrorClass,
  sandboxErrorOf,
  sandboxErrorThrownBy,
} from "./expect-sandbox-error.js";
export { fileOperationsConformance } from "./file-operations-conformance.js";
export { filesConformance } from "./files-conformance.js";
export { lifecycleConformance } from "./lifecycle-conformance.js";
export { MISSING_IMAGE_NAME, optionsConformance } from "./options-conformance.js";
export { processesConformance } from "./processes-conformance.js";
export { type ConformanceShard, type ConformanceSuiteOptions, conformanceShard, runConformanceSuite } from "./run-conformance-suite.js";
