import { BaseSandbox, type FileDownloadResponse, type FileUploadResponse, type GlobResult, type GrepResult, type LsResult, type ReadResult } from "deepagents";
import type { SandboxCapabilities, SandboxCapability } from "../contract/capabilities.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_SANDBOX_TIMEOUT_MS } from "../contract/defaults.js";
import type { AttachProcessOptions, ProcessInfo, SandboxProcess, SpawnOptions, TerminalSize } from "../contract/process-handle.js";
import type { ExecuteOptions, ExecuteResult, SandboxBackend } from "../contract/sandbox-backend.js";
import { SANDBOX_SPECIFICATION_VERSION, type SandboxSpecificationVersion } from "../contract/specification-version.js";
import type { SandboxErrorCode } from "../errors/error-codes.js";
import { redactSecrets } from "../errors/redact.js";
import { SandboxError, type SandboxErrorOptions } from "../errors/sandbox-error.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import { assertOptionsSupported, isAbsoluteSandboxPath, isPortNumber, notAPortMessage, validateSandboxOptions } from "../options/validate-options.js";
import { CommandOutput } from "../output/command-output.js";
import { type ResolvedSandboxClaim, SANDBOX_CLAIM_KEYS, type SandboxClaim } from "../pool/sandbox-claim.js";
import { listScriptProcesses, openScriptProcess, type ScriptProcesses, startScriptProcess } from "../processes/process-handles.js";
import { assertExecuteArguments, assertExecuteOptionsObject, assertPositiveInteger, assertSpawnArguments, assertTimeoutMs } from "./command-arguments.js";
import { type CwdProblem, cwdProblemMessage } from "./command-cwd.js";
import { CommandDeadline } from "./command-deadline.js";
import type { CommandOutcome, CommandRequest } from "./command-request.js";
import { commandTimeoutErrorOptions } from "./command-timeout-error.js";
import { baseNameFilter, globCommand, globResultOf, globResultOfLines, lsCommand, lsResultOf, lsResultOfLines } from "./file-listing.js";
import { type FileForRead, readResultOfFile } from "./file-read.js";
import { grepResultOfOutput, prunedGrepCommand, searchesFromRoot } from "./file-search.js";
import { raceKillGrace } from "./kill-grace.js";
import { inInputOrder } from "./partial-success.js";
import type { ProcessRequest } from "./process-request.js";

/** Lifecycle state of an adapter handle. */
export type SandboxState = "new" | "initializing" | "ready" | "closed";

/** Construction settings every adapter passes to {@link SandboxAdapter}. */
export interface SandboxAdapterSettings {
  provider: string;
  capabilities: SandboxCapabilities;
  /** Adapter-specific option keys accepted besides the common ones. */
  extraOptionKeys?: readonly string[];
  /** Default per-command timeout; `DEFAULT_COMMAND_TIMEOUT_MS` when absent. */
  commandTimeoutMs?: number;
  /** Default output cap; `DEFAULT_MAX_OUTPUT_BYTES` when absent. */
  maxOutputBytes?: number;
}

const EMPTY_ENV: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Bound of the command that checks a terminal's cwd before it starts (see `assertTerminalCwd`). */
const TERMINAL_CWD_CHECK_MS = 30_000;

/**
 * The base class adapters extend. It implements the contract once (lifecycle
 * states and their errors, option validation and capability checks, command
 * timeout / abort / output cap / streaming, per-file validation of uploads and
 * downloads, initial files) and reuses deepagents' `BaseSandbox` for
 * `read`, `write`, `edit` and `grep`; `ls` and `glob` give `BaseSandbox`'s
 * answers in a few processes (see file-listing.ts).
 *
 * An adapter supplies only the provider primitives: {@link provision},
 * {@link runCommand}, {@link putFiles}, {@link getFiles},
 * {@link checkRunning} (behind {@link isAlive}) and {@link release}.
 */
export abstract class SandboxAdapter<Options extends SandboxOptions = SandboxOptions> extends BaseSandbox implements SandboxBackend {
  readonly provider: string;
  readonly specificationVersion: SandboxSpecificationVersion = SANDBOX_SPECIFICATION_VERSION;
  readonly capabilities: SandboxCapabilities;
  /** The validated options this handle was built with. */
  protected readonly options: Options;
  #state: SandboxState = "new";
  /** Set once a call proved the sandbox gone (ended, terminated elsewhere). */
  #ended = false;
  #id: string | undefined;
  readonly #commandTimeoutMs: number;
  readonly #maxOutputBytes: number;
  #closing: Promise<void> | undefined;
  #starting: Promise<unknown> | undefined;
  /** Secret values to scrub from any message this adapter produces. */
  protected readonly secretValues = new Set<string>();

  /**
   * Validates options (throws `INVALID_OPTIONS` / `UNSUPPORTED_CAPABILITY`
   * synchronously: nothing is created for bad input).
   */
  constructor(options: Options | undefined, settings: SandboxAdapterSettings) {
    super();
    this.provider = settings.provider;
    this.capabilities = Object.freeze({ ...settings.capabilities });
    const context = { provider: settings.provider, extraKeys: settings.extraOptionKeys ?? [] };
    this.#commandTimeoutMs = settings.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#maxOutputBytes = settings.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    try {
      this.options = validateSandboxOptions(options, context) as Options;
      assertOptionsSupported(this.options, this.provider, this.capabilities);
      assertTimeoutMs(this.#commandTimeoutMs, "commandTimeoutMs", this.provider, "INVALID_OPTIONS");
      assertPositiveInteger(this.#maxOutputBytes, "maxOutputBytes", this.provider, "INVALID_OPTIONS");
    } catch (error) {
      throw this.ownError(error);
    }
  }

  /**
   * Re-issues a core validation error as this adapter's own error class
   * (`instanceof ModalSandboxError` holds for `INVALID_OPTIONS` too).
   */
  private ownError(error: unknown): unknown {
    if (!SandboxError.isInstance(error) || error.constructor !== SandboxError) return error;
    return this.error(error.code, {
      message: error.message,
      retryable: error.retryable,
      details: error.details,
      ...(error.cause === undefined ? {} : { cause: error.cause }),
    });
  }

  /** Runs a core validation and re-issues what it throws as this adapter's error ({@link ownError}). */
  private validated(check: () => void): void {
    try {
      check();
    } catch (error) {
      throw this.ownError(error);
    }
  }

  // ---- primitives an adapter supplies -------------------------------------

  /** Creates the sandbox at the provider and returns its id. Throw `SandboxError`s. */
  protected abstract provision(): Promise<string>;
  /** Runs one command; see {@link CommandRequest} for the kill duty on abort. */
  protected abstract runCommand(request: CommandRequest): Promise<CommandOutcome>;
  /** Writes files (paths already validated absolute); results in input order. */
  protected abstract putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]>;
  /** Reads files (paths already validated absolute); results in input order. */
  protected abstract getFiles(paths: string[]): Promise<FileDownloadResponse[]>;
  /** Asks the provider whether the sandbox is alive. */
  protected abstract checkRunning(): Promise<boolean>;
  /**
   * Releases client resources and, when `terminate` is true, ends the sandbox.
   * Called at most once per handle. Must not throw for an already-gone sandbox.
   */
  protected abstract release(terminate: boolean): Promise<void>;

  // ---- lifecycle ----------------------------------------------------------

  /** Lifecycle state of this handle. */
  get state(): SandboxState {
    return this.#state;
  }

  get isInitialized(): boolean {
    return this.#state === "ready";
  }

  /** @throws `NOT_INITIALIZED` before initialization, `SANDBOX_CLOSED` after close. */
  get id(): string {
    this.assertReady();
    return this.#id!;
  }

  /**
   * Creates the sandbox, then writes `initialFiles` (a failure there closes
   * the sandbox again and rejects with `FILE_OPERATION_FAILED`).
   */
  async initialize(): Promise<void> {
    await this.start(() => this.provision());
    try {
      await this.writeInitialFiles(this.options.initialFiles);
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    }
  }

  /** Writes `initialFiles` (if any); @throws `FILE_OPERATION_FAILED` naming each file that failed. */
  private async writeInitialFiles(initialFiles: SandboxOptions["initialFiles"]): Promise<void> {
    if (!initialFiles || Object.keys(initialFiles).length === 0) return;
    const encoder = new TextEncoder();
    const files = Object.entries(initialFiles).map(
      ([path, content]) => [path, typeof content === "string" ? encoder.encode(content) : content] as [string, Uint8Array],
    );
    const results = await this.uploadFiles(files);
    const failed = results.filter((result) => result.error !== null);
    if (failed.length > 0) {
      throw this.error("FILE_OPERATION_FAILED", {
        message: `could not write initial files: ${failed.map((result) => `${result.path} (${result.error})`).join(", ")}`,
        details: { failed },
      });
    }
  }

  /**
   * Moves the handle to `ready` with the id `connect` returns. Used by
   * `initialize()` and by adapters' `fromId` / `fromName` to adopt an
   * existing sandbox.
   */
  protected async start(connect: () => Promise<string>): Promise<void> {
    if (this.#state === "closed") throw this.error("SANDBOX_CLOSED");
    if (this.#state !== "new") throw this.error("ALREADY_INITIALIZED");
    this.#state = "initializing";
    const attempt = (async () => connect())();
    this.#starting = attempt.catch(() => undefined);
    try {
      const id = await attempt;
      if (typeof id !== "string" || id.length === 0) {
        throw this.error("SANDBOX_CREATION_FAILED", { message: "provider returned an empty sandbox id" });
      }
      if ((this.#state as SandboxState) === "closed") throw this.error("SANDBOX_CLOSED", { message: "closed while initializing; the sandbox was released" });
      this.#id = id;
      this.#state = "ready";
    } catch (error) {
      if (this.#state === "initializing") this.#state = "new";
      throw error;
    }
  }

  /** Terminates the sandbox and releases the client. Idempotent. */
  async close(): Promise<void> {
    await this.finish(true);
  }

  /**
   * Releases this handle's client resources but leaves the sandbox running
   * (it still ends at its lifetime). Reconnect later with the adapter's
   * `fromId`. Idempotent; `close()` after it does nothing.
   */
  async detach(): Promise<void> {
    await this.finish(false);
  }

  private async finish(terminate: boolean): Promise<void> {
    if (this.#closing) return this.#closing;
    const wasStarted = this.#state === "ready" || this.#state === "initializing";
    this.#state = "closed";
    const starting = this.#starting ?? Promise.resolve();
    this.#closing = wasStarted ? starting.then(() => this.release(terminate)) : Promise.resolve();
    return this.#closing;
  }

  /**
   * LangChain's shape: a synchronous flag, true while the handle is ready and
   * the sandbox is not known to have ended. No provider call.
   */
  get isRunning(): boolean {
    return this.#state === "ready" && !this.#ended;
  }

  /** Asks the provider; a `false` answer also turns {@link isRunning} false. */
  async isAlive(): Promise<boolean> {
    if (this.#state !== "ready" || this.#ended) return false;
    const alive = await this.checkRunning();
    if (!alive) this.markEnded();
    return alive;
  }

  /** Records that the sandbox is gone when a call failed with `SANDBOX_NOT_FOUND`. */
  private noteEnded(error: unknown): void {
    if (SandboxError.isInstance(error) && error.code === "SANDBOX_NOT_FOUND") this.markEnded();
  }

  /**
   * For adapters: the provider said the sandbox has ended (e.g. an exit code
   * from a poll), so {@link isRunning} turns false for good. The handle stays
   * open until `close()`.
   */
  protected markEnded(): void {
    if (this.#state === "ready") this.#ended = true;
  }

  // ---- execute -------------------------------------------------------------

  /**
   * Runs `command` through `sh -c` under a timeout and an output cap; see
   * {@link SandboxBackend.execute}. A throwing `onStdout` / `onStderr` does
   * not disturb the run: its error is rethrown once the command has settled.
   */
  async execute(command: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    this.assertReady();
    this.validated(() => assertExecuteOptionsObject(options, this.provider));
    const limits = { timeoutMs: options.timeoutMs ?? this.#commandTimeoutMs, maxOutputBytes: options.maxOutputBytes ?? this.#maxOutputBytes };
    this.validated(() => assertExecuteArguments(command, options, limits, this.provider));
    if (options.signal?.aborted) {
      throw this.error("COMMAND_TIMEOUT", {
        message: "command aborted before it started",
        output: "",
        truncated: false,
        details: { reason: "aborted", started: false },
      });
    }
    const output = new CommandOutput(limits.maxOutputBytes, options);
    const deadline = new CommandDeadline(limits.timeoutMs, options.signal);
    try {
      const outcome = await this.settleCommand(
        {
          command,
          cwd: options.cwd,
          env: options.env ?? EMPTY_ENV,
          signal: deadline.signal,
          timeoutMs: limits.timeoutMs,
          onStdout: output.onStdout,
          onStderr: output.onStderr,
        },
        deadline,
        output,
      );
      output.finish();
      if (outcome.cwdProblem !== undefined && options.cwd !== undefined) {
        throw this.error("INVALID_ARGUMENT", {
          message: cwdProblemMessage(options.cwd, outcome.cwdProblem),
          details: { option: "cwd", cwd: options.cwd, reason: outcome.cwdProblem },
        });
      }
      if (typeof outcome.exitCode !== "number") {
        throw this.error("COMMAND_FAILED", { message: "provider reported no exit code", output: output.text() });
      }
      return { output: output.text(), exitCode: outcome.exitCode, truncated: output.truncated };
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Runs the adapter's {@link runCommand} until it settles (or the kill grace
   * after a stop runs out) and turns a stop into `COMMAND_TIMEOUT` and any
   * other failure into this provider's error.
   */
  private async settleCommand(request: CommandRequest, deadline: CommandDeadline, output: CommandOutput): Promise<CommandOutcome> {
    let outcome: CommandOutcome;
    const run = this.noticeCloseFirst((async () => this.runCommand(request))());
    try {
      outcome = await raceKillGrace(run.settled, deadline.signal);
    } catch (error) {
      if (deadline.reason)
        throw this.error("COMMAND_TIMEOUT", commandTimeoutErrorOptions({ reason: deadline.reason, timeoutMs: deadline.timeoutMs }, output, error));
      if (run.closedFirst()) throw this.closedDuring("the command ran", error, output.text());
      this.noteEnded(error);
      if (SandboxError.isInstance(error)) throw error;
      throw this.error("COMMAND_FAILED", { cause: error, message: `could not run command: ${describe(error)}` });
    }
    if (deadline.reason)
      throw this.error("COMMAND_TIMEOUT", commandTimeoutErrorOptions({ reason: deadline.reason, timeoutMs: deadline.timeoutMs }, output, undefined, outcome));
    // An exit code that arrived after close() (137 where the provider killed everything) is the close's doing, not the command's.
    if (run.closedFirst()) throw this.closedDuring("the command ran", undefined, output.text());
    return outcome;
  }

  /**
   * Wraps an operation in flight so that, once it settles, {@link closedFirst}
   * tells whether `close()` or `detach()` was called before it did: its
   * outcome is then the close's doing, not the operation's.
   */
  private noticeCloseFirst<T>(operation: Promise<T>): { settled: Promise<T>; closedFirst: () => boolean } {
    let closedFirst = false;
    const settled = operation.finally(() => {
      closedFirst = this.#state === "closed";
    });
    return { settled, closedFirst: () => closedFirst };
  }

  /** `SANDBOX_CLOSED` for a call that was in flight when the handle was closed or detached. */
  private closedDuring(what: string, cause: unknown, output?: string): SandboxError {
    return this.error("SANDBOX_CLOSED", {
      message: `the handle was closed (or detached) while ${what}; its outcome is unknown`,
      ...(cause === undefined ? {} : { cause }),
      ...(output === undefined ? {} : { output }),
      details: { reason: "closed-during-call" },
    });
  }

  // ---- deepagents file tools ---------------------------------------------------

  /**
   * The entries of `path`, as deepagents' `BaseSandbox.ls` lists them (same
   * entries, fields and order), in one `find` and two `stat`s instead of a
   * shell loop forking `stat` twice per entry where `find` has no `-printf`.
   */
  override async ls(path: string): Promise<LsResult> {
    this.assertReady();
    const listed = typeof path === "string" && path.startsWith("/") && !path.includes("\0") ? await this.listDirectory(path) : undefined;
    if (listed !== undefined) return lsResultOfLines(listed);
    const result = await this.execute(lsCommand(path));
    return lsResultOf(result) ?? super.ls(path);
  }

  /**
   * For adapters that can list a directory without a command (local-docker's
   * agent): what `find -L <path> -maxdepth 1 -not -path <path>` lists, one
   * line `size\tmtime\ttype\tpath` per entry in its order (type `d` for a
   * directory or a symlink to one; size and time as `BaseSandbox` reads
   * them with this sandbox's `find`), or undefined to run the command.
   * Default: undefined.
   */
  protected async listDirectory(_path: string): Promise<string | undefined> {
    return undefined;
  }

  /**
   * For adapters that can list a tree without a command: what `glob`'s
   * `find` lists under `root` (see file-listing.ts), the lines of the
   * entries whose base name passes the `-name` pattern `nameFilter`
   * (undefined: all) in `find`'s order, then the trailer line
   * `\u0003<entries>\t<bytes>` counting every entry; or undefined to run
   * the command. Default: undefined.
   */
  protected async listTree(_root: string, _nameFilter: string | undefined): Promise<string | undefined> {
    return undefined;
  }

  /**
   * The entries under `path` matching `pattern`, as deepagents'
   * `BaseSandbox.glob` finds them (same entries, fields, order and
   * truncation), stat'ing only the entries whose base name can match. Where
   * the answers could differ (a listing over `BaseSandbox`'s line or output
   * cap), `BaseSandbox.glob` answers.
   */
  override async glob(pattern: string, path = "/"): Promise<GlobResult> {
    this.assertReady();
    const filter = baseNameFilter(pattern);
    if (typeof pattern === "string" && typeof path === "string" && path.startsWith("/") && !`${path}${filter ?? ""}`.includes("\0")) {
      const listed = await this.listTree(path, filter);
      const answer = listed === undefined ? undefined : globResultOfLines(listed, pattern, path, this.#maxOutputBytes);
      if (answer !== undefined) return answer;
    }
    const result = await this.execute(globCommand(path, filter));
    return globResultOf(result, pattern, path, this.#maxOutputBytes) ?? super.glob(pattern, path);
  }

  /**
   * For adapters that can read a file without a command (local-docker's
   * agent): its bytes (`bytesAsText`: this sandbox's `awk` prints a byte over
   * 0x7f as it is), or `{ missing: true }` when `[ -f path ]` fails for it;
   * or undefined to run the command. Default: undefined.
   */
  protected async readForTools(_path: string): Promise<FileForRead | undefined> {
    return undefined;
  }

  /**
   * A text file's lines, numbered, as deepagents' `BaseSandbox.read` gives
   * them (same pagination, reminders, errors and cut at the output cap),
   * from the adapter's own read when it has one ({@link readForTools});
   * otherwise, or where `awk` could print the file otherwise,
   * `BaseSandbox.read`.
   */
  override async read(filePath: string, offset = 0, limit = 500): Promise<ReadResult> {
    this.assertReady();
    if (typeof filePath === "string" && filePath.startsWith("/") && !filePath.includes("\0")) {
      const file = await this.readForTools(filePath);
      const answer =
        file === undefined ? undefined : await readResultOfFile(file, filePath, offset, limit, this.#maxOutputBytes, (paths) => this.downloadFiles(paths));
      if (answer !== undefined) return answer;
    }
    return super.read(filePath, offset, limit);
  }

  /**
   * For adapters that can search files without a command (local-docker's
   * agent): the first `maxOutputBytes` bytes of what deepagents' grep command
   * (see file-search.ts) prints on stdout for `pattern` (a literal) under
   * `path`, only in files whose base name matches `glob` when one is given,
   * decoded as `execute` decodes output; or undefined to run the command.
   * For `path` "/", what `prunedGrepCommand` prints (no `/proc`, `/sys`,
   * `/dev` or `/run`; regular files only, symbolic links followed only with a glob).
   * Default: undefined.
   */
  protected async searchTree(_pattern: string, _path: string, _glob: string | null, _maxOutputBytes: number): Promise<string | undefined> {
    return undefined;
  }

  /**
   * Lines containing the literal `pattern`, as deepagents' `BaseSandbox.grep`
   * finds them (same matches, order and cut at the output cap), from the
   * adapter's own search when it has one ({@link searchTree}); otherwise, or
   * where it leaves the search to the command, `BaseSandbox.grep`.
   */
  override async grep(pattern: string, path = "/", glob: string | null = null, maxCount: number | null = null): Promise<GrepResult> {
    this.assertReady();
    const narrowed = glob || null;
    if (typeof pattern === "string" && typeof path === "string" && path.startsWith("/") && (narrowed === null || typeof narrowed === "string")) {
      if (!`${pattern}${path}${narrowed ?? ""}`.includes("\0")) {
        // From the root, deepagents' command would read /proc without end: /proc, /sys, /dev and /run are skipped (see prunedGrepCommand).
        const fromRoot = searchesFromRoot(path);
        const root = fromRoot ? "/" : path;
        const output = await this.searchTree(pattern, root, narrowed, this.#maxOutputBytes);
        const answer = output === undefined ? undefined : await grepResultOfOutput(output, pattern, root, narrowed, maxCount);
        if (answer !== undefined) return answer;
        if (fromRoot) {
          const result = await this.execute(prunedGrepCommand(pattern, narrowed));
          const parsed = await grepResultOfOutput(result.output, pattern, root, narrowed, maxCount);
          if (parsed !== undefined) return parsed;
        }
      }
    }
    return super.grep(pattern, path, glob, maxCount);
  }

  // ---- files ----------------------------------------------------------------

  /**
   * Writes files; parents are created, existing files overwritten. Partial
   * success: each result carries its own error (`invalid_path` for a path that
   * is not absolute, `permission_denied`, `is_directory`), in input order.
   */
  async uploadFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    this.assertReady();
    if (!Array.isArray(files)) throw this.error("INVALID_ARGUMENT", { message: "uploadFiles expects an array of [path, content] pairs" });
    return inInputOrder(
      files,
      (entry): [string, Uint8Array] | undefined => {
        const [path, content] = Array.isArray(entry) ? entry : [undefined, undefined];
        return isAbsoluteSandboxPath(path) && !path.endsWith("/") && content instanceof Uint8Array ? [path, content] : undefined;
      },
      (entry): FileUploadResponse => ({ path: String(Array.isArray(entry) ? entry[0] : undefined), error: "invalid_path" }),
      (valid) => this.guardFiles(() => this.putInOrder(valid)),
    );
  }

  /**
   * Writes a batch as if file by file, in its order: where a file lies under
   * an earlier file of the batch, or an earlier file lies under it (a
   * directory the batch itself creates), it goes to {@link putFiles} in a
   * later call, once the earlier files are written. A provider that plans a
   * batch at once (one archive) would otherwise replace the new directory,
   * and the files it had reported written, with the later file.
   */
  private async putInOrder(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    const results: FileUploadResponse[] = [];
    for (const round of inNestingRounds(files)) results.push(...(await this.putFiles(round)));
    return results;
  }

  /**
   * Reads files. Partial success in input order; `file_not_found`,
   * `is_directory`, `permission_denied`, `invalid_path` per file.
   */
  async downloadFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    this.assertReady();
    if (!Array.isArray(paths)) throw this.error("INVALID_ARGUMENT", { message: "downloadFiles expects an array of paths" });
    return inInputOrder(
      paths,
      (path) => (isAbsoluteSandboxPath(path) ? path : undefined),
      (path): FileDownloadResponse => ({ path: String(path), content: null, error: "invalid_path" }),
      async (valid) => (await this.guardFiles(() => this.getFiles(valid))).map(notUnderTrailingSlash),
    );
  }

  private async guardFiles<T extends ReadonlyArray<{ error: unknown }>>(operation: () => Promise<T>): Promise<T> {
    const transfer = this.noticeCloseFirst((async () => operation())());
    let results: T;
    try {
      results = await transfer.settled;
    } catch (error) {
      if (transfer.closedFirst()) throw this.closedDuring("files were transferred", error);
      this.noteEnded(error);
      if (SandboxError.isInstance(error)) throw error;
      throw this.error("FILE_OPERATION_FAILED", { cause: error, message: `file transfer failed: ${describe(error)}` });
    }
    // Per-file errors that came back after close() may be the close's doing (the sandbox vanished mid-transfer).
    if (transfer.closedFirst() && results.some((result) => result.error !== null)) throw this.closedDuring("files were transferred", undefined);
    return results;
  }

  // ---- helpers for adapters --------------------------------------------------

  /** Throws `NOT_INITIALIZED` or `SANDBOX_CLOSED` unless the handle is ready. */
  protected assertReady(): void {
    if (this.#state === "ready") return;
    if (this.#state === "closed") throw this.error("SANDBOX_CLOSED");
    throw this.error("NOT_INITIALIZED");
  }

  /**
   * Builds this provider's error. Adapters override it to return their own
   * subclass (e.g. `ModalSandboxError`); messages are scrubbed of known secrets.
   */
  protected error(code: SandboxErrorCode, options: SandboxErrorOptions = {}): SandboxError {
    return new SandboxError(code, this.scrub({ ...options, provider: this.provider }));
  }

  /**
   * Removes registered secret values from the message and from the cause's
   * message (loggers print cause chains). A cause whose message held a secret
   * is replaced by a plain `Error` with the redacted text and the same name.
   */
  protected scrub(options: SandboxErrorOptions): SandboxErrorOptions {
    if (this.secretValues.size === 0) return options;
    const scrubbed = { ...options };
    if (scrubbed.message) scrubbed.message = redactSecrets(scrubbed.message, this.secretValues);
    if (scrubbed.cause instanceof Error) {
      const redacted = redactSecrets(scrubbed.cause.message, this.secretValues);
      if (redacted !== scrubbed.cause.message) {
        const replacement = new Error(redacted);
        replacement.name = scrubbed.cause.name;
        scrubbed.cause = replacement;
      }
    }
    return scrubbed;
  }

  // ---- processes and ports -------------------------------------------------
  // Core validates and checks capabilities; adapters override the protected
  // primitives below (each defaults to UNSUPPORTED_CAPABILITY, so an adapter
  // that implements none of them keeps compiling and fails loudly).

  /** See {@link SandboxBackend.spawn}. */
  async spawn(command: string, options: SpawnOptions = {}): Promise<SandboxProcess> {
    this.requireCapability("processes", "spawn()");
    if (options !== null && typeof options === "object" && options.pty !== undefined) this.requireCapability("pty", "spawn() with a pty");
    this.assertReady();
    this.validated(() => assertSpawnArguments(command, options, this.provider));
    if (options.pty !== undefined) this.assertTerminalSize(options.pty, "pty");
    if (options.pty !== undefined && options.cwd !== undefined) await this.assertTerminalCwd(options.cwd);
    return this.guardProcessCall(
      () => this.startProcess({ command, cwd: options.cwd, env: options.env ?? EMPTY_ENV, timeoutMs: options.timeoutMs, pty: options.pty }),
      "could not start process",
    );
  }

  /**
   * A terminal's cwd is checked by a command first, as `execute` would enter
   * it: a terminal merges stderr into what it shows, so the prefix that
   * names a bad cwd for other processes cannot be read apart there, and a
   * bad one must still reject before anything starts, on every adapter.
   */
  private async assertTerminalCwd(cwd: string): Promise<void> {
    try {
      await this.execute("true", { cwd, timeoutMs: TERMINAL_CWD_CHECK_MS });
    } catch (error) {
      if (!SandboxError.isInstance(error) || error.code !== "INVALID_ARGUMENT") throw error;
      const problem = (error.details as { reason?: CwdProblem } | undefined)?.reason;
      if (problem === undefined) throw error;
      throw this.error("INVALID_ARGUMENT", {
        message: cwdProblemMessage(cwd, problem, "nothing was started"),
        details: { option: "cwd", cwd, reason: problem },
      });
    }
  }

  /** See {@link SandboxBackend.listProcesses}. */
  async listProcesses(): Promise<ProcessInfo[]> {
    this.requireCapability("processReattach", "listProcesses()");
    this.assertReady();
    return this.guardProcessCall(() => this.listProcessRecords(), "could not list processes");
  }

  /** See {@link SandboxBackend.attachProcess}. */
  async attachProcess(id: string, options: AttachProcessOptions = {}): Promise<SandboxProcess> {
    this.requireCapability("processReattach", "attachProcess()");
    this.assertReady();
    if (typeof id !== "string" || !/^[A-Za-z0-9_.-]{1,128}$/.test(id)) {
      throw this.error("INVALID_ARGUMENT", { message: `no process with id ${JSON.stringify(id)} in this sandbox`, details: { reason: "process-not-found" } });
    }
    const fromOffset = options?.fromOffset ?? 0;
    if (typeof fromOffset !== "number" || !Number.isSafeInteger(fromOffset) || fromOffset < 0) {
      throw this.error("INVALID_ARGUMENT", {
        message: `invalid option "fromOffset": must be a whole number of bytes >= 0, got ${String(fromOffset)}`,
        details: { option: "fromOffset" },
      });
    }
    return this.guardProcessCall(() => this.openProcess(id, fromOffset), "could not attach to process");
  }

  /** See {@link SandboxBackend.portUrl}. */
  async portUrl(port: number): Promise<string> {
    this.requireCapability("ports", "portUrl()");
    this.assertReady();
    this.assertPort(port);
    return this.guardProcessCall(() => this.resolvePortUrl(port), "could not resolve the port URL");
  }

  /** See {@link SandboxBackend.portUrls}. */
  async portUrls(): Promise<Record<number, string>> {
    this.requireCapability("ports", "portUrls()");
    this.assertReady();
    return this.guardProcessCall(() => this.resolvePortUrls(), "could not resolve the port URLs");
  }

  /** See {@link SandboxBackend.exposePort}. */
  async exposePort(port: number): Promise<string> {
    this.requireCapability("portsAtRuntime", "exposePort()");
    this.assertReady();
    this.assertPort(port);
    return this.guardProcessCall(() => this.addPort(port), "could not expose the port");
  }

  /**
   * How core's script processes (`@sandbox/core`'s process scripts and
   * handles) reach this sandbox, or `undefined` (the default) where the
   * adapter has none. Given it, `spawn()`, `listProcesses()` and
   * `attachProcess()` need no other hook.
   */
  protected scriptProcesses(): ScriptProcesses | undefined {
    return undefined;
  }

  /** Starts a validated `spawn()`. Default: through {@link scriptProcesses}, else `UNSUPPORTED_CAPABILITY`. */
  protected startProcess(request: ProcessRequest): Promise<SandboxProcess> {
    const processes = this.scriptProcesses();
    if (!processes) return Promise.reject(this.unsupportedCall("spawn()", "processes"));
    if (request.pty) return processes.startTerminal(request);
    return startScriptProcess(processes.host, request, processes.retainedBytes);
  }

  /** Lists spawned processes. Default: through {@link scriptProcesses}, else `UNSUPPORTED_CAPABILITY`. */
  protected listProcessRecords(): Promise<ProcessInfo[]> {
    const processes = this.scriptProcesses();
    if (!processes) return Promise.reject(this.unsupportedCall("listProcesses()", "processReattach"));
    return listScriptProcesses(processes.host);
  }

  /** Opens a handle on process `id` reading from `fromOffset`. Default: through {@link scriptProcesses}, else `UNSUPPORTED_CAPABILITY`. */
  protected openProcess(id: string, fromOffset: number): Promise<SandboxProcess> {
    const processes = this.scriptProcesses();
    if (!processes) return Promise.reject(this.unsupportedCall("attachProcess()", "processReattach"));
    return openScriptProcess(processes.host, id, fromOffset);
  }

  /**
   * URL of a declared port. Default: looked up in {@link resolvePortUrls};
   * a port it does not name is `INVALID_ARGUMENT` with {@link undeclaredPortAdvice}.
   */
  protected async resolvePortUrl(port: number): Promise<string> {
    const url = (await this.resolvePortUrls())[port];
    if (url === undefined) {
      throw this.error("INVALID_ARGUMENT", { message: `port ${port} ${this.undeclaredPortAdvice()}`, details: { option: "port", port } });
    }
    return url;
  }

  /** What the error for a port that was not declared says after "port N". */
  protected undeclaredPortAdvice(): string {
    return 'was not published: pass it in the "ports" option when creating the sandbox';
  }

  /** Every declared port's URL. Default: `UNSUPPORTED_CAPABILITY`. */
  protected resolvePortUrls(): Promise<Record<number, string>> {
    return Promise.reject(this.unsupportedCall("portUrls()", "ports"));
  }

  /** Publishes a port at run time. Default: `UNSUPPORTED_CAPABILITY`. */
  protected addPort(_port: number): Promise<string> {
    return Promise.reject(this.unsupportedCall("exposePort()", "portsAtRuntime"));
  }

  /** `UNSUPPORTED_CAPABILITY` naming the provider, the call and the capability. */
  protected unsupportedCall(call: string, capability: SandboxCapability): SandboxError {
    return this.error("UNSUPPORTED_CAPABILITY", {
      message: `provider "${this.provider}" does not support ${call} (capability "${capability}")`,
      details: { call, capability },
    });
  }

  /** Throws {@link unsupportedCall} unless the capability is declared. */
  protected requireCapability(capability: SandboxCapability, call: string): void {
    if (!this.capabilities[capability]) throw this.unsupportedCall(call, capability);
  }

  /** Throws `INVALID_ARGUMENT` unless `size` is `{ cols, rows }` of whole numbers 1-1000. */
  protected assertTerminalSize(size: unknown, option: string): asserts size is TerminalSize {
    const valid = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 1000;
    const record = size as Partial<TerminalSize> | null;
    if (record === null || typeof record !== "object" || !valid(record.cols) || !valid(record.rows)) {
      throw this.error("INVALID_ARGUMENT", { message: `invalid option "${option}": must be { cols, rows } of whole numbers 1-1000`, details: { option } });
    }
  }

  private assertPort(port: unknown): void {
    if (!isPortNumber(port)) throw this.error("INVALID_ARGUMENT", { message: notAPortMessage(port), details: { option: "port" } });
  }

  private async guardProcessCall<T>(operation: () => Promise<T>, doing: string): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      this.noteEnded(error);
      if (SandboxError.isInstance(error)) throw error;
      throw this.error("COMMAND_FAILED", { cause: error, message: `${doing}: ${describe(error)}` });
    }
  }

  // ---- warm pools -------------------------------------------------------------

  /**
   * Whether a ready sandbox of this adapter can take a claim
   * ({@link applyClaim}), so a warm pool may start it ahead of time. False
   * unless the adapter overrides it together with {@link claimSandbox}; a
   * pool then always creates cold.
   */
  get supportsClaim(): boolean {
    return false;
  }

  /**
   * Gives a ready, pre-started sandbox (from a warm pool) what the pool could
   * not know: env, secrets, workdir, initial files and lifetime. Afterwards the
   * sandbox behaves as if it had been created with those options. The claim is
   * validated like creation options (`INVALID_OPTIONS`); an adapter without
   * claims rejects with `UNSUPPORTED_CAPABILITY`. Called once, by the pool,
   * before the caller gets the handle.
   */
  async applyClaim(claim: SandboxClaim = {}): Promise<void> {
    this.assertReady();
    if (!this.supportsClaim) {
      throw this.error("UNSUPPORTED_CAPABILITY", {
        message: `provider "${this.provider}" cannot apply a claim to a running sandbox (no warm pool support)`,
        details: { capability: "claim" },
      });
    }
    let validated: SandboxOptions;
    try {
      if (typeof claim !== "object" || claim === null)
        throw new SandboxError("INVALID_OPTIONS", { provider: this.provider, message: "a claim must be an object" });
      const unknown = Object.keys(claim).filter((key) => !(SANDBOX_CLAIM_KEYS as readonly string[]).includes(key));
      if (unknown.length > 0) {
        throw new SandboxError("INVALID_OPTIONS", {
          provider: this.provider,
          message: `invalid claim option "${unknown[0]}": only ${SANDBOX_CLAIM_KEYS.join(", ")} can be applied to a running sandbox`,
          details: { option: unknown[0] },
        });
      }
      validated = validateSandboxOptions(claim, { provider: this.provider, extraKeys: [] });
    } catch (error) {
      throw this.ownError(error);
    }
    const resolved: ResolvedSandboxClaim = { timeoutMs: validated.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS };
    if (validated.env !== undefined) resolved.env = validated.env;
    if (validated.secrets !== undefined) resolved.secrets = validated.secrets;
    if (validated.workdir !== undefined) resolved.workdir = validated.workdir;
    await this.claimSandbox(resolved);
    await this.writeInitialFiles(validated.initialFiles);
  }

  /**
   * Primitive behind {@link applyClaim} for adapters that override
   * {@link supportsClaim}: from now on every command gets `env` (secrets
   * resolved, then `env` on top) and runs in `workdir` (created when missing)
   * unless the call says otherwise, and the sandbox ends by itself
   * `timeoutMs` from now, even if the host process dies. Initial files are
   * written by core afterwards.
   */
  protected async claimSandbox(_claim: ResolvedSandboxClaim): Promise<void> {
    throw this.error("UNSUPPORTED_CAPABILITY", {
      message: `provider "${this.provider}" cannot apply a claim to a running sandbox`,
      details: { capability: "claim" },
    });
  }
}

/**
 * Splits an upload batch, in its order, into runs where no path lies under
 * another (after `//` and `/./` are read as the kernel reads them); a path
 * nested with an earlier one of the run starts the next run.
 */
function inNestingRounds(files: Array<[string, Uint8Array]>): Array<Array<[string, Uint8Array]>> {
  const rounds: Array<Array<[string, Uint8Array]>> = [];
  let round: Array<[string, Uint8Array]> = [];
  let written = new Set<string>();
  let parents = new Set<string>();
  for (const file of files) {
    const segments = file[0].split("/").filter((segment) => segment !== "" && segment !== ".");
    const key = segments.join("/");
    const ancestors = segments.slice(0, -1).map((_, index) => segments.slice(0, index + 1).join("/"));
    if (parents.has(key) || ancestors.some((ancestor) => written.has(ancestor))) {
      rounds.push(round);
      round = [];
      written = new Set();
      parents = new Set();
    }
    round.push(file);
    written.add(key);
    for (const ancestor of ancestors) parents.add(ancestor);
  }
  if (round.length > 0) rounds.push(round);
  return rounds;
}

/**
 * `file/` names a directory: for a regular file the OS answers "not a
 * directory", so the file is not found there (as `file/child` is not), even
 * where a provider's read ignores the slash.
 */
function notUnderTrailingSlash(result: FileDownloadResponse): FileDownloadResponse {
  return result.error === null && result.path.endsWith("/") ? { path: result.path, content: null, error: "file_not_found" } : result;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
