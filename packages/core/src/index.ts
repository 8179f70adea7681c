// deepagents' per-file result types, so adapters need no direct deepagents dependency for them.
export type { FileDownloadResponse, FileOperationError, FileUploadResponse } from "deepagents";
export { CWD_PROBLEM_TAG, type CwdProblem, cwdProblemIn, ENTER_CWD_PREFIX, shellArgvIn } from "./adapter/command-cwd.js";
export type { CommandOutcome, CommandRequest } from "./adapter/command-request.js";
export type { FileForRead } from "./adapter/file-read.js";
export type { ProcessRequest } from "./adapter/process-request.js";
export { SandboxAdapter, type SandboxAdapterSettings, type SandboxState } from "./adapter/sandbox-adapter.js";
export type { SandboxCapabilities, SandboxCapability } from "./contract/capabilities.js";
export { allCapabilities, describeCapabilities, SANDBOX_CAPABILITY_NAMES } from "./contract/capabilities.js";
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_IMAGE_NAME,
  DEFAULT_MAX_DOWNLOAD_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_PROCESS_RETAINED_BYTES,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  KILL_CONFIRMATION_GRACE_MS,
  MAX_COMMAND_BYTES,
  MAX_ENV_ENTRY_BYTES,
  MAX_ENV_TOTAL_BYTES,
} from "./contract/defaults.js";
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
export type { ExecuteOptions, ExecuteResult, SandboxBackend } from "./contract/sandbox-backend.js";
export { SANDBOX_SPECIFICATION_VERSION, type SandboxSpecificationVersion } from "./contract/specification-version.js";
export { isSandboxErrorCode, SANDBOX_ERROR_CODES, type SandboxErrorCode, sandboxErrorCodes } from "./errors/error-codes.js";
export { redactSecrets } from "./errors/redact.js";
export { hasErrorMarker, SandboxError, type SandboxErrorOptions } from "./errors/sandbox-error.js";
export { initialized } from "./factory/initialized.js";
export { memoizedSandboxFactory } from "./factory/memoized-factory.js";
// The host-side tools (kill-by-marker, process scripts and records, owner identity, secrets file): listed once, in host-tools.ts.
export * from "./host-tools.js";
export {
  OOM_BASELINE_PREFIX,
  OOM_BASELINE_TAG,
  OomBaselineReader,
  oomKilledDuring,
  parseOomKillCount,
  READ_OOM_KILL_COUNT_COMMAND,
} from "./kill/oom-attribution.js";
export { type GpuRequest, MAX_SANDBOX_TIMEOUT_MS, SANDBOX_OPTION_KEYS, type SandboxOptions } from "./options/sandbox-options.js";
export {
  assertOptionsSupported,
  isAbsoluteSandboxPath,
  isPortNumber,
  isValidImageReference,
  parseGpu,
  type ValidationContext,
  validateEnv,
  validateSandboxOptions,
} from "./options/validate-options.js";
export { OutputCollector } from "./output/output-collector.js";
export { createProcessOutputStream, type OutputReadContext } from "./output/process-output-stream.js";
export { type ResolvedSandboxClaim, SANDBOX_CLAIM_KEYS, type SandboxClaim } from "./pool/sandbox-claim.js";
export {
  type ClaimableSandbox,
  createSandboxPool,
  type SandboxPool,
  type SandboxPoolSettings,
  type SandboxPoolStats,
} from "./pool/sandbox-pool.js";
export {
  listScriptProcesses,
  openScriptProcess,
  type ProcessScriptHost,
  type ScriptProcesses,
  type ScriptResult,
  type ScriptStream,
  startScriptProcess,
  stdinBytes,
} from "./processes/process-handles.js";
export { defineSandboxProvider, type SandboxClass, type SandboxProviderDefinition } from "./registry/define-sandbox-provider.js";
export {
  createSandboxRegistry,
  type RegistryCreateOptions,
  type SandboxProvider,
  type SandboxProviderEntry,
  type SandboxRegistry,
  type SandboxRegistrySettings,
} from "./registry/sandbox-registry.js";
