import type { ExecuteResponse, FileDownloadResponse, FileUploadResponse, SandboxBackendProtocolV2 } from "deepagents";
import type { SandboxCapabilities } from "./capabilities.js";
import type { AttachProcessOptions, ProcessInfo, SandboxProcess, SpawnOptions } from "./process-handle.js";
import type { SandboxSpecificationVersion } from "./specification-version.js";

/**
 * Per-call options of {@link SandboxBackend.execute}. Every field is optional;
 * invalid values reject with `INVALID_ARGUMENT` before anything runs.
 */
export interface ExecuteOptions {
  /**
   * Kill the command after this many milliseconds (positive integer). Default:
   * the sandbox's command timeout, itself `DEFAULT_COMMAND_TIMEOUT_MS` (5 min)
   * unless the adapter was configured otherwise. On expiry the command's whole
   * process tree is killed inside the sandbox, then the call rejects with
   * `COMMAND_TIMEOUT` whose `output` holds what was printed so far.
   */
  timeoutMs?: number;
  /**
   * Absolute working directory for this command. Default: the sandbox
   * workdir. One that cannot be entered (missing, not a directory, not
   * searchable) rejects with `INVALID_ARGUMENT` naming it, `details.reason`
   * `"not_found"`, `"not_a_directory"` or `"permission_denied"`; nothing runs.
   */
  cwd?: string;
  /** Extra environment variables for this command (names: `[A-Za-z_][A-Za-z0-9_]*`). */
  env?: Record<string, string>;
  /**
   * Aborting kills the command's process tree like a timeout does; the call
   * rejects with `COMMAND_TIMEOUT` (`details.reason: "aborted"`).
   */
  signal?: AbortSignal;
  /** Receives stdout text as it arrives (UTF-8 decoded, chunks never split a character). */
  onStdout?: (chunk: string) => void;
  /** Receives stderr text as it arrives. */
  onStderr?: (chunk: string) => void;
  /**
   * Keep at most this many bytes of combined output (positive integer).
   * Default: `DEFAULT_MAX_OUTPUT_BYTES` (1 MiB). Past it the result has
   * `truncated: true`; the command keeps running and its further output is
   * dropped, so host memory stays bounded. A character the cap cuts in two
   * is left out of `output`.
   */
  maxOutputBytes?: number;
}

/**
 * The result of a command. A non-zero exit code is a result, not an error.
 * `output` is stdout and stderr combined in arrival order; bytes that are not
 * valid UTF-8 become U+FFFD, never an exception.
 */
export interface ExecuteResult extends ExecuteResponse {
  exitCode: number;
}

/**
 * The contract every adapter implements: a deepagents sandbox backend
 * (`SandboxBackendProtocolV2`, so `createDeepAgent({ backend: sandbox })`
 * works) plus provider identity, capabilities, lifecycle and a richer
 * `execute`.
 *
 * Ownership: whoever created or reconnected the handle calls `close()`.
 */
export interface SandboxBackend extends SandboxBackendProtocolV2 {
  /**
   * Non-empty, stable for the sandbox's life, accepted by the adapter's
   * `fromId`. Reading it before initialization throws `NOT_INITIALIZED`.
   */
  readonly id: string;
  /** Provider name, e.g. `"local-docker"`, `"modal"`. */
  readonly provider: string;
  /** The contract version this backend implements: `"sandbox-v1"`. The registry refuses another. */
  readonly specificationVersion: SandboxSpecificationVersion;
  /** What this provider supports on this host. */
  readonly capabilities: SandboxCapabilities;
  /** True between a successful `initialize()` and `close()`. */
  readonly isInitialized: boolean;
  /**
   * Creates (or connects to) the sandbox. Rejects with `ALREADY_INITIALIZED`
   * when called twice and `SANDBOX_CLOSED` after `close()`.
   */
  initialize(): Promise<void>;
  /**
   * Terminates the sandbox and releases every client resource, so the host
   * process can exit. Idempotent: later calls resolve at once. After it,
   * every call rejects with `SANDBOX_CLOSED`, and so does a call still in
   * flight when it was called (`details.reason: "closed-during-call"`): an
   * `execute` cut short never reports the kill as its exit code, and a
   * transfer that finished before the close keeps its results.
   */
  close(): Promise<void>;
  /**
   * Synchronous, as in deepagents' own sandboxes and every LangChain sandbox
   * provider (`if (!sandbox.isRunning) await sandbox.initialize()`): true when
   * the handle is initialized, not closed or detached, and not known to have
   * ended (a call that found the sandbox gone, or {@link isAlive} answering
   * `false`, turns it false for good). It makes no provider call; use
   * {@link isAlive} to ask the provider.
   */
  readonly isRunning: boolean;
  /**
   * Asks the provider whether the sandbox is still alive (false before
   * initialization, after close or detach, and once it has ended). A `false`
   * answer also turns {@link isRunning} false.
   */
  isAlive(): Promise<boolean>;
  /**
   * Releases this handle's client resources and leaves the sandbox running
   * until its lifetime ends (for a process that reconnects later with the
   * adapter's `fromId`). Idempotent; after it every call rejects with
   * `SANDBOX_CLOSED`, and `close()` does nothing.
   */
  detach(): Promise<void>;
  /**
   * Runs `command` through `sh -c` with empty stdin. See {@link ExecuteOptions}
   * for timeouts, abort, streaming and the output cap.
   *
   * Where a capability is missing the semantics still hold as far as they can,
   * and say so: without `streaming`, `onStdout` / `onStderr` are called once the
   * output is available rather than as it arrives; without `processKill`, a
   * timeout still rejects with `COMMAND_TIMEOUT` but `details.killConfirmed` is
   * `false` (something may still run until the sandbox ends).
   *
   * @throws `COMMAND_TIMEOUT` on timeout or abort (after the process tree is killed),
   *   `RESOURCE_LIMIT_EXCEEDED` when the command was killed for exceeding the
   *   sandbox's memory limit,
   *   `SANDBOX_NOT_FOUND` when the sandbox ended (lifetime over, terminated elsewhere),
   *   `COMMAND_FAILED` when the provider could not run the command,
   *   `INVALID_ARGUMENT` for bad options (nothing runs),
   *   `NOT_INITIALIZED` / `SANDBOX_CLOSED` outside the handle's life.
   */
  execute(command: string, options?: ExecuteOptions): Promise<ExecuteResult>;
  /**
   * Writes files (required here, optional in deepagents). Parents are created,
   * existing files overwritten. Partial success: one result per input, in input
   * order, each with `error: null` or one of deepagents' codes: `invalid_path`
   * (not absolute, contains `..`, or a parent is a regular file),
   * `is_directory` (the path is a directory), `permission_denied`.
   * @throws `FILE_OPERATION_FAILED` only when the transfer as a whole failed.
   */
  uploadFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]>;
  /**
   * Reads files (required here, optional in deepagents). Partial success in
   * input order; `file_not_found` for a missing file (deepagents' memory loader
   * relies on exactly this code), `is_directory`, `permission_denied`,
   * `invalid_path`. Symlinks are followed.
   * @throws `FILE_OPERATION_FAILED` only when the transfer as a whole failed.
   */
  downloadFiles(paths: string[]): Promise<FileDownloadResponse[]>;
  /**
   * Starts `command` through `sh -c` in the background and returns its handle
   * at once (capability `processes`; `pty` for a terminal). The process
   * outlives the handle; see {@link SandboxProcess}.
   * @throws `UNSUPPORTED_CAPABILITY` naming provider and call when the
   *   capability is missing, `INVALID_ARGUMENT` for bad options (nothing
   *   runs), `SANDBOX_NOT_FOUND` when the sandbox ended, `COMMAND_FAILED`
   *   when the provider could not start it.
   */
  spawn(command: string, options?: SpawnOptions): Promise<SandboxProcess>;
  /**
   * Processes started with `spawn` (without a terminal) in this sandbox, by
   * any handle or OS process, running or ended (capability `processReattach`).
   */
  listProcesses(): Promise<ProcessInfo[]>;
  /**
   * A handle on a process started earlier, possibly by another OS process
   * (capability `processReattach`). Its streams replay from `fromOffset`
   * (default 0), then follow live.
   * @throws `INVALID_ARGUMENT` when no process has this id (`details.reason:
   *   "process-not-found"`) or the offset is not a whole number >= 0.
   */
  attachProcess(id: string, options?: AttachProcessOptions): Promise<SandboxProcess>;
  /**
   * A URL reaching TCP `port` inside the sandbox, for a port given in the
   * `ports` option (capability `ports`), or added with {@link exposePort}.
   * @throws `INVALID_ARGUMENT` for a port that was not declared.
   */
  portUrl(port: number): Promise<string>;
  /** Every declared port mapped to its URL (capability `ports`). */
  portUrls(): Promise<Record<number, string>>;
  /**
   * Makes `port` reachable on a running sandbox and returns its URL
   * (capability `portsAtRuntime`; providers without it need the port in the
   * `ports` option at create time).
   */
  exposePort(port: number): Promise<string>;
}
