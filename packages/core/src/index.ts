export type { SandboxCapabilities, SandboxCapability } from "./contract/capabilities.js";
export { SANDBOX_CAPABILITY_NAMES, allCapabilities, describeCapabilities } from "./contract/capabilities.js";
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_IMAGE_NAME,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_PROCESS_RETAINED_BYTES,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  KILL_CONFIRMATION_GRACE_MS,
  MAX_COMMAND_BYTES,
} from "./contract/defaults.js";
export type { ExecuteOptions, ExecuteResult, SandboxBackend } from "./contract/sandbox-backend.js";
export type {
  AttachProcessOptions,
  ProcessExit,
  ProcessInfo,
  ProcessInput,
  ProcessKillResult,
  ProcessOutputStream,
  ProcessStreamState,
  SandboxProcess,
  SpawnOptions,
  TerminalSize,
} from "./contract/process-handle.js";
export { createProcessOutputStream, type OutputReadContext } from "./base/process-output-stream.js";
export { SANDBOX_SPECIFICATION_VERSION, type SandboxSpecificationVersion } from "./contract/specification-version.js";
// deepagents' per-file result types, so adapters need no direct deepagents dependency for them.
export type { FileDownloadResponse, FileOperationError, FileUploadResponse } from "deepagents";
export { SANDBOX_ERROR_CODES, isSandboxErrorCode, sandboxErrorCodes, type SandboxErrorCode } from "./errors/error-codes.js";
export { redactSecrets } from "./errors/redact.js";
export { SandboxError, type SandboxErrorOptions } from "./errors/sandbox-error.js";
export { MAX_SANDBOX_TIMEOUT_MS, SANDBOX_OPTION_KEYS, type GpuRequest, type SandboxOptions } from "./options/sandbox-options.js";
export {
  assertOptionsSupported,
  isAbsoluteSandboxPath,
  isPortNumber,
  isValidImageReference,
  parseGpu,
  validateEnv,
  validateSandboxOptions,
  type ValidationContext,
} from "./options/validate-options.js";
export { ENVIRONMENT_VARIABLE_NAME, parseSecretStore, secretVariables, type SecretStoreProblem } from "./options/secret-store.js";
export { OutputCollector } from "./base/output-collector.js";
export {
  SandboxAdapter,
  type CommandOutcome,
  type CommandRequest,
  type ProcessRequest,
  type SandboxAdapterSettings,
  type SandboxState,
} from "./base/sandbox-adapter.js";
export {
  createSandboxRegistry,
  type RegistryCreateOptions,
  type SandboxProvider,
  type SandboxProviderEntry,
  type SandboxRegistry,
  type SandboxRegistrySettings,
} from "./registry/sandbox-registry.js";
export { EXEC_MARKER_VARIABLE, KILL_BY_MARKER_SCRIPT } from "./base/kill-by-marker.js";
export {
  OOM_BASELINE_PREFIX,
  OOM_BASELINE_TAG,
  OomBaselineReader,
  READ_OOM_KILL_COUNT_COMMAND,
  oomKilledDuring,
  parseOomKillCount,
} from "./base/oom-attribution.js";
export { currentOwner, ownerIsGone, processStart, type OwnerIdentity, type RecordedOwner } from "./leaks/owner-identity.js";
export { memoizedSandboxFactory } from "./base/memoized-factory.js";
export { SANDBOX_CLAIM_KEYS, type ResolvedSandboxClaim, type SandboxClaim } from "./pool/sandbox-claim.js";
export {
  createSandboxPool,
  type ClaimableSandbox,
  type SandboxPool,
  type SandboxPoolSettings,
  type SandboxPoolStats,
} from "./pool/sandbox-pool.js";
