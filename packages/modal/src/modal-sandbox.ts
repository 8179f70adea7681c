import { randomBytes } from "node:crypto";
import {
  allCapabilities,
  type CommandOutcome,
  type CommandRequest,
  DEFAULT_PROCESS_RETAINED_BYTES,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  initialized,
  oomKilledDuring,
  SandboxAdapter,
  type SandboxCapabilities,
  SandboxError,
  type SandboxErrorCode,
  type SandboxErrorOptions,
  type ScriptProcesses,
} from "@sandbox/core";
import type { FileDownloadResponse, FileUploadResponse } from "deepagents";
import type { ModalClient, Sandbox, Secret, Volume } from "modal";
import { ClientLookups, sharedModalClients } from "./client-pool.js";
import { getAuthCredentials } from "./credentials.js";
import { CREDENTIALS_HINT, isAlreadyExistsFailure, isNotFoundFailure, type ModalOperation, mapModalError } from "./error-mapping.js";
import {
  DEFAULT_MODAL_APP_NAME,
  imageNameOf,
  MODAL_EXTRA_OPTION_KEYS,
  type ModalSandboxOptions,
  toSandboxCreateParams,
  validateModalOptions,
} from "./modal-options.js";
import { MODAL_PROVIDER, ModalSandboxError, type ModalSandboxErrorCode } from "./modal-sandbox-error.js";
import { DETACHED_OWNER, MODAL_TAGS, ownerTags } from "./owner-tags.js";
import { readOomKillCount, runInSandbox } from "./sandbox-exec.js";
import { readFiles, writeFiles } from "./sandbox-files.js";
import { type ModalProcessHost, modalProcessScripts } from "./sandbox-processes.js";
import { startModalTerminal } from "./sandbox-terminal.js";
import { tunnelUrls } from "./sandbox-tunnels.js";

/** Options of {@link ModalSandbox.fromId} and {@link ModalSandbox.fromName}. */
export type ModalConnectOptions = Pick<ModalSandboxOptions, "auth" | "client" | "commandTimeoutMs" | "maxOutputBytes">;

/**
 * What Modal supports. True: GPUs, volumes, named secrets,
 * `blockNetwork`, enforced cpu/memory limits, reconnect by id and by name, a
 * lifetime enforced by Modal, streaming output and killing a command's tree,
 * background processes (`spawn`) with reattach from any handle (output is
 * kept inside the sandbox by core's process scripts). (An environment without
 * GPUs, such as the emulator, refuses `gpu` with `RESOURCE_LIMIT_EXCEEDED`.)
 * Ports: `ports` opens TLS tunnels (`encryptedPorts`) and `portUrl()` gives
 * their URL (`http://127.0.0.1:<port>` on an offline emulator, which has no
 * TLS). `portsAtRuntime` is false: Modal opens tunnels only at create time.
 * PTY: the SDK's PTY exec, sized and resized with `stty` inside the terminal
 * (Modal's protocol has no resize call); a PTY process is not reattachable.
 */
export const MODAL_CAPABILITIES: SandboxCapabilities = Object.freeze({
  ...allCapabilities(true),
  portsAtRuntime: false,
});

/**
 * A Modal sandbox through the official `modal` SDK (pinned `0.11.1`), with
 * the documented `@langchain/modal` API on top of the `@sandbox/core`
 * contract. It is a deepagents backend: `createDeepAgent({ backend: sandbox })`.
 *
 * Ownership: whoever creates or reconnects a handle calls `close()`, which
 * terminates the sandbox and lets go of the handle's `ModalClient`. Handles
 * with the same `auth` and `MODAL_*` environment share one client (one
 * connection and auth token, one lookup of each App and image); it is closed
 * a few seconds after the last of them lets go, without keeping the process
 * alive. A client passed in through `client` is never closed.
 *
 * @example
 * ```ts
 * const sandbox = await ModalSandbox.create({ imageName: "python:3.12-slim", timeoutMs: 600_000 });
 * try {
 *   const result = await sandbox.execute("python --version");
 *   console.log(result.output);
 * } finally {
 *   await sandbox.close();
 * }
 * ```
 */
export class ModalSandbox extends SandboxAdapter<ModalSandboxOptions> {
  #client: ModalClient | undefined;
  #ownsClient = false;
  #instance: Sandbox | undefined;
  /** Handed out as `id` before initialization (see {@link ModalSandbox.id}). */
  readonly #provisionalId = `modal-pending-${randomBytes(8).toString("hex")}`;
  /** Exit code of the sandbox once known (from poll(), wait() or terminate()). */
  #exitCode: number | undefined;
  /** Set by terminate(): release() then waits for the exit code. */
  #terminating = false;

  /**
   * Validates options (throws `INVALID_OPTIONS` at once, before any network
   * call); call `initialize()` to create the sandbox.
   */
  constructor(options: ModalSandboxOptions = {}) {
    super(options, {
      provider: MODAL_PROVIDER,
      capabilities: MODAL_CAPABILITIES,
      extraOptionKeys: MODAL_EXTRA_OPTION_KEYS,
      commandTimeoutMs: options?.commandTimeoutMs,
      maxOutputBytes: options?.maxOutputBytes,
    });
    validateModalOptions(this.options);
    for (const value of [this.options.auth?.tokenId, this.options.auth?.tokenSecret]) {
      if (typeof value === "string" && value.length > 0) this.secretValues.add(value);
    }
  }

  /**
   * Creates and initializes a sandbox.
   * @throws `INVALID_OPTIONS` for bad options (before any network call),
   *   `AUTHENTICATION_FAILED`, `SANDBOX_CREATION_FAILED`, `VOLUME_ERROR`,
   *   `RESOURCE_LIMIT_EXCEEDED`, `PROVIDER_UNAVAILABLE`, `FILE_OPERATION_FAILED` (initial files).
   */
  static async create(options: ModalSandboxOptions = {}): Promise<ModalSandbox> {
    return initialized(new ModalSandbox(options));
  }

  /**
   * A live handle on a running sandbox, e.g. from another process. The SDK's
   * `fromId` makes no call, so existence is checked with one cheap `poll()`.
   * @throws `SANDBOX_NOT_FOUND` when no running sandbox has this id.
   */
  static async fromId(id: string, options: ModalConnectOptions = {}): Promise<ModalSandbox> {
    const sandbox = new ModalSandbox(options);
    if (typeof id !== "string" || !/^[A-Za-z0-9_.-]{1,128}$/.test(id)) {
      throw new ModalSandboxError("SANDBOX_NOT_FOUND", { message: `no sandbox with id "${String(id).slice(0, 128)}"` });
    }
    await sandbox.#adopt(`no running sandbox with id "${id}"`, async (client) => {
      const instance = await client.sandboxes.fromId(id);
      const exitCode = await instance.poll();
      if (exitCode !== null) {
        instance.detach();
        throw new ModalSandboxError("SANDBOX_NOT_FOUND", { message: `sandbox "${id}" has already finished (exit code ${exitCode})`, details: { exitCode } });
      }
      return instance;
    });
    return sandbox;
  }

  /**
   * A live handle on the running sandbox named `name` in the Modal App `appName`.
   * @throws `SANDBOX_NOT_FOUND` when there is none.
   */
  static async fromName(appName: string, name: string, options: ModalConnectOptions = {}): Promise<ModalSandbox> {
    const sandbox = new ModalSandbox(options);
    if (typeof appName !== "string" || appName === "" || typeof name !== "string" || name === "") {
      throw new ModalSandboxError("SANDBOX_NOT_FOUND", { message: "fromName needs a non-empty app name and sandbox name" });
    }
    await sandbox.#adopt(`no running sandbox named "${name}" in app "${appName}"`, (client) => client.sandboxes.fromName(appName, name));
    return sandbox;
  }

  /**
   * The sandbox id. Before `initialize()` it is a provisional id
   * (`modal-pending-<random>`), as `@langchain/modal` hands out, so
   * `createDeepAgent({ backend: new ModalSandbox(options) })` works before
   * `await sandbox.initialize()` (deepagents reads `id` when it builds the
   * agent). From initialization on it is Modal's sandbox id (`sb-...`); the
   * provisional one never names a sandbox at Modal.
   * @throws `SANDBOX_CLOSED` after `close()`.
   */
  override get id(): string {
    if (this.state === "new" || this.state === "initializing") return this.#provisionalId;
    return super.id;
  }

  /**
   * Ends the sandbox at Modal (the SDK's `Sandbox.terminate()`), waits for its
   * exit code, and closes this handle (letting go of its client, as `close()` does).
   * Afterwards `poll()` and `wait()` resolve that exit code, everything else
   * throws `SANDBOX_CLOSED`. Same as `close()` apart from remembering the exit
   * code; idempotent (resolves on a closed handle).
   * @throws `NOT_INITIALIZED` before initialization.
   */
  async terminate(): Promise<void> {
    if (this.state === "new" || this.state === "initializing") throw this.error("NOT_INITIALIZED");
    if (this.state === "ready") this.#terminating = true;
    await this.close();
  }

  /**
   * Stops the sandbox: the same as {@link terminate}. A Modal sandbox cannot
   * be paused and started again (deepagents' `LangSmithSandbox.stop()` keeps
   * the files for a later `start()`; Modal has no such state), so stopping
   * ends it and its files are gone; keep data in `volumes`. Billing stops too.
   * @throws `NOT_INITIALIZED` before initialization.
   */
  async stop(): Promise<void> {
    await this.terminate();
  }

  /**
   * The SDK's `Sandbox.poll()`: `null` while the sandbox runs, else its exit
   * code (e.g. after its main `command` exited, its `timeoutMs` lifetime
   * passed, or it was terminated elsewhere). After `terminate()` it resolves
   * the exit code terminate() saw.
   * @throws `NOT_INITIALIZED` before initialization, `SANDBOX_CLOSED` on a
   *   handle closed without a known exit code.
   */
  async poll(): Promise<number | null> {
    const instance = this.#liveInstance();
    if (instance === undefined) return this.#exitCode!;
    let code: number | null;
    try {
      code = await instance.poll();
    } catch (error) {
      throw this.mapError(error, "lifecycle", "could not poll the sandbox");
    }
    if (code !== null) {
      this.#exitCode = code;
      this.markEnded();
    }
    return code;
  }

  /**
   * The SDK's `Sandbox.wait()`: resolves the sandbox's exit code once it has
   * finished (its main `command` exited, its lifetime passed or it was
   * terminated). It does not end the sandbox; a sandbox without a `command`
   * runs until its `timeoutMs`. After `terminate()` it resolves at once.
   * @throws `NOT_INITIALIZED` before initialization, `SANDBOX_CLOSED` on a
   *   handle closed without a known exit code.
   */
  async wait(): Promise<number> {
    const instance = this.#liveInstance();
    if (instance === undefined) return this.#exitCode!;
    try {
      this.#exitCode = await instance.wait();
      this.markEnded();
      return this.#exitCode;
    } catch (error) {
      if (this.#exitCode !== undefined) return this.#exitCode;
      throw this.mapError(error, "lifecycle", "could not wait for the sandbox");
    }
  }

  /** The SDK sandbox of a ready handle, or undefined when the handle is closed with a known exit code. */
  #liveInstance(): Sandbox | undefined {
    if (this.state === "closed" && this.#exitCode !== undefined) return undefined;
    this.assertReady();
    return this.#instance!;
  }

  /**
   * The `ModalClient` this handle uses: the one passed in `client`, else the
   * one shared by handles with the same credentials (do not close it yourself).
   * @throws `NOT_INITIALIZED` before initialization.
   */
  get client(): ModalClient {
    this.assertReady();
    return this.#client!;
  }

  /** The SDK `Sandbox`, for anything this adapter does not expose. @throws `NOT_INITIALIZED` before initialization. */
  get instance(): Sandbox {
    this.assertReady();
    return this.#instance!;
  }

  protected override error(code: SandboxErrorCode, options: SandboxErrorOptions = {}): SandboxError {
    return new ModalSandboxError(code as ModalSandboxErrorCode, this.scrub(options));
  }

  /** Wraps an SDK failure in this adapter's error, message scrubbed, original as `cause`. */
  private mapError(error: unknown, operation: ModalOperation, context: string, details?: Record<string, unknown>): SandboxError {
    if (SandboxError.isInstance(error)) return error;
    const mapped = mapModalError(error, operation, context);
    return this.error(mapped.code, {
      message: mapped.message,
      cause: error,
      ...(mapped.retryable !== undefined ? { retryable: mapped.retryable } : {}),
      ...(details ? { details } : {}),
    });
  }

  /**
   * The client to use: the one passed in, or the one shared by every handle
   * with the same `auth` and `MODAL_*` environment (else the profile), built
   * on first use (see client-pool.ts). Checks that credentials exist, without
   * any network call.
   */
  #openClient(): ModalClient {
    const check = (client: ModalClient) => {
      const profile = client.profile ?? {};
      for (const value of [profile.tokenId, profile.tokenSecret, profile.oauthClientSecret, profile.oauthRefreshToken]) {
        if (typeof value === "string" && value.length > 0) this.secretValues.add(value);
      }
      const hasTokens = Boolean(profile.tokenId && profile.tokenSecret);
      const hasOAuth = Boolean(profile.oauthRefreshToken && profile.oauthClientId);
      if (!hasTokens && !hasOAuth) throw this.error("AUTHENTICATION_FAILED", { message: `no Modal credentials found; ${CREDENTIALS_HINT}` });
    };
    if (this.options.client) {
      check(this.options.client);
      this.#client = this.options.client;
      this.#ownsClient = false;
      return this.#client;
    }
    // A partial auth takes the missing field from the environment.
    const auth = this.options.auth ? getAuthCredentials(this.options.auth) : undefined;
    try {
      this.#client = sharedModalClients.acquire(auth, check);
    } catch (error) {
      if (SandboxError.isInstance(error)) throw error;
      throw this.error("AUTHENTICATION_FAILED", {
        message: `could not configure the Modal client (${(error as Error).message}); ${CREDENTIALS_HINT}`,
        cause: error,
      });
    }
    this.#ownsClient = true;
    return this.#client;
  }

  /** Lets go of the client: a shared one is closed once no handle has used it for a short while; a passed one never. */
  #releaseClient(): void {
    if (this.#ownsClient && this.#client) sharedModalClients.release(this.#client);
    this.#client = undefined;
    this.#ownsClient = false;
  }

  async #adopt(notFound: string, find: (client: ModalClient) => Promise<Sandbox>): Promise<void> {
    await this.start(async () => {
      const client = this.#openClient();
      try {
        this.#instance = await find(client);
        return this.#instance.sandboxId;
      } catch (error) {
        this.#releaseClient();
        throw this.mapError(error, "connect", notFound);
      }
    });
  }

  protected async provision(): Promise<string> {
    const options = this.options;
    const appName = options.appName ?? DEFAULT_MODAL_APP_NAME;
    const imageName = imageNameOf(options);
    const client = this.#openClient();
    const lookups = ClientLookups.of(client);
    const openApp = () => {
      const found = lookups.app(client, appName);
      const app = found.app.catch((error: unknown) => {
        throw this.mapError(error, "create", `could not open the Modal App "${appName}"`);
      });
      return { app, cached: found.cached };
    };
    try {
      const first = openApp();
      const [app, volumes, secrets] = await Promise.all([first.app, this.#lookupVolumes(client), this.#lookupSecrets(client)]);
      const params = toSandboxCreateParams(options, { volumes, secrets }, ownerTags(appName, options.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS));
      try {
        const { image, cached } = lookups.image(client, imageName);
        try {
          this.#instance = await client.sandboxes.create(app, image, params);
          lookups.keepImage(client, imageName, image);
        } catch (error) {
          // A kept App or image may be gone since (deleted at Modal): look both up again, once.
          if (!(first.cached || cached) || !isNotFoundFailure(error)) throw error;
          lookups.forget(client, appName, imageName);
          const fresh = lookups.image(client, imageName).image;
          this.#instance = await client.sandboxes.create(await openApp().app, fresh, params);
          lookups.keepImage(client, imageName, fresh);
        }
      } catch (error) {
        const context =
          options.gpu !== undefined
            ? `could not create sandbox from image "${imageName}" with gpu "${options.gpu}"`
            : `could not create sandbox from image "${imageName}"`;
        const details: Record<string, unknown> = options.gpu !== undefined ? { option: "gpu", gpu: options.gpu } : {};
        // The SDK builds the image inside create(); say so when that is what failed.
        if (isImageBuildFailure(error)) Object.assign(details, { reason: "image-unavailable", imageName });
        const mapped = this.mapError(error, "create", context, Object.keys(details).length > 0 ? details : undefined);
        if (mapped.code === "SANDBOX_CREATION_FAILED" && options.name !== undefined && isAlreadyExistsFailure(error)) {
          throw this.error("SANDBOX_CREATION_FAILED", {
            message: `a sandbox named "${options.name}" is already running in app "${appName}"`,
            cause: error,
            retryable: false,
          });
        }
        throw mapped;
      }
      return this.#instance.sandboxId;
    } catch (error) {
      this.#releaseClient();
      throw this.mapError(error, "create", `could not create sandbox from image "${imageName}"`);
    }
  }

  /** Looks up every volume by name; volumes must exist (they are never created here). */
  async #lookupVolumes(client: ModalClient): Promise<Record<string, Volume>> {
    const entries = Object.entries(this.options.volumes ?? {});
    const looked = await Promise.all(
      entries.map(async ([mountPath, volumeName]) => {
        try {
          return [mountPath, await client.volumes.fromName(volumeName)] as const;
        } catch (error) {
          const mapped = mapModalError(error, "create", "");
          if (mapped.code === "AUTHENTICATION_FAILED" || mapped.code === "PROVIDER_UNAVAILABLE")
            throw this.mapError(error, "create", `could not look up the Modal Volume "${volumeName}"`);
          const missing = isNotFoundFailure(error);
          throw this.error("VOLUME_ERROR", {
            message: missing
              ? `the Modal Volume "${volumeName}" (for ${mountPath}) does not exist; create it first (modal volume create ${volumeName})`
              : `could not look up the Modal Volume "${volumeName}" (for ${mountPath}): ${(error as Error)?.message ?? String(error)}`,
            cause: error,
            details: { option: "volumes", volume: volumeName, mountPath },
          });
        }
      }),
    );
    return Object.fromEntries(looked);
  }

  /** Looks up every named Modal Secret; a missing one fails creation. */
  async #lookupSecrets(client: ModalClient): Promise<Secret[]> {
    return Promise.all(
      (this.options.secrets ?? []).map(async (secretName) => {
        try {
          return await client.secrets.fromName(secretName);
        } catch (error) {
          if (isNotFoundFailure(error)) {
            throw this.error("SANDBOX_CREATION_FAILED", {
              message: `the Modal Secret "${secretName}" does not exist; create it in Modal first`,
              cause: error,
              retryable: false,
              details: { option: "secrets", secret: secretName },
            });
          }
          throw this.mapError(error, "create", `could not look up the Modal Secret "${secretName}"`);
        }
      }),
    );
  }

  protected async runCommand(request: CommandRequest): Promise<CommandOutcome> {
    const instance = this.#instance!;
    try {
      const outcome = await runInSandbox(instance, request);
      if (outcome.killed) return { exitCode: null, killConfirmed: outcome.killConfirmed !== false };
      if (outcome.cwdProblem !== undefined) return { exitCode: outcome.exitCode, cwdProblem: outcome.cwdProblem };
      // A signal death (137 when the lifetime passes or the sandbox is terminated elsewhere) may be the sandbox's end, not the command's.
      if (outcome.exitCode !== null && outcome.exitCode >= 128 && (await this.#endedMeanwhile())) throw this.#endedDuring("the command ran");
      // Attributed per command: the counter after the 137 against the one printed before the command.
      if (outcome.exitCode === 137 && oomKilledDuring(outcome.oomKillsBefore, await readOomKillCount(instance).catch(() => undefined))) {
        throw this.error("RESOURCE_LIMIT_EXCEEDED", {
          message: `the command was killed for exceeding the sandbox memory limit (${this.options.memoryMiB ?? "Modal default"} MiB)`,
          details: { exitCode: 137, memoryMiB: this.options.memoryMiB, reason: "out-of-memory" },
        });
      }
      return { exitCode: outcome.exitCode };
    } catch (error) {
      throw await this.#failureOf(error, "exec", "could not run command", "the command ran");
    }
  }

  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    try {
      return await writeFiles(this.#instance!, files);
    } catch (error) {
      throw await this.#failureOf(error, "files", "could not write files", "files were written");
    }
  }

  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    try {
      return await readFiles(this.#instance!, paths);
    } catch (error) {
      throw await this.#failureOf(error, "files", "could not read files", "files were read");
    }
  }

  /**
   * The error for a failed exec or transfer: `SANDBOX_NOT_FOUND` when the
   * sandbox ended meanwhile (the SDK then reports only a killed exec, e.g.
   * "failed with exit code 137"), else the SDK error mapped.
   */
  async #failureOf(error: unknown, operation: ModalOperation, context: string, during: string): Promise<SandboxError> {
    const mapped = this.mapError(error, operation, context);
    if (mapped.code === "SANDBOX_NOT_FOUND" || SandboxError.isInstance(error) || !(await this.#endedMeanwhile())) return mapped;
    return this.#endedDuring(during, error);
  }

  /**
   * Whether the sandbox has finished, asked with `poll()` for up to a second
   * (an exec killed by the sandbox's end can report before the sandbox
   * does). False while it runs or when the answer is unknown.
   */
  async #endedMeanwhile(): Promise<boolean> {
    const instance = this.#instance;
    if (instance === undefined) return false;
    for (let attempt = 0; attempt < 5; attempt++) {
      const code = await instance.poll().catch(() => null);
      if (code !== null) {
        this.#exitCode = code;
        return true;
      }
      if (attempt < 4) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return false;
  }

  #endedDuring(what: string, cause?: unknown): SandboxError {
    return this.error("SANDBOX_NOT_FOUND", {
      message: `the sandbox ended while ${what} (its lifetime passed, or it was terminated elsewhere)`,
      ...(cause === undefined ? {} : { cause }),
      details: { exitCode: this.#exitCode },
    });
  }

  // ---- processes and ports (logic in sandbox-processes.ts, sandbox-terminal.ts, sandbox-tunnels.ts)

  private get processHost(): ModalProcessHost {
    return {
      instance: this.#instance!,
      error: (code, options) => this.error(code, options),
      commandError: (error, context) => this.mapError(error, "exec", context),
      isRunning: () => this.checkRunning(),
    };
  }

  protected override scriptProcesses(): ScriptProcesses {
    return {
      host: modalProcessScripts(this.processHost),
      retainedBytes: DEFAULT_PROCESS_RETAINED_BYTES,
      startTerminal: (request) => startModalTerminal(this.processHost, request),
    };
  }

  protected override undeclaredPortAdvice(): string {
    return 'has no tunnel: pass it in the "ports" option (or encryptedPorts / unencryptedPorts) when creating the sandbox; Modal cannot open a port on a running sandbox';
  }

  protected override async resolvePortUrls(): Promise<Record<number, string>> {
    try {
      return await tunnelUrls(this.#instance!);
    } catch (error) {
      throw this.mapError(error, "lifecycle", "could not read the sandbox's tunnels");
    }
  }

  protected async checkRunning(): Promise<boolean> {
    try {
      return (await this.#instance!.poll()) === null;
    } catch (error) {
      const mapped = this.mapError(error, "lifecycle", "could not check the sandbox");
      if (mapped.code === "SANDBOX_NOT_FOUND") return false;
      throw mapped;
    }
  }

  protected async release(terminate: boolean): Promise<void> {
    const instance = this.#instance;
    try {
      if (!terminate && instance) {
        // A detached sandbox is meant to be picked up by another process:
        // drop the owner pid so reap() leaves it to its lifetime.
        const tags = await instance.getTags().catch(() => undefined);
        if (tags) await instance.setTags({ ...tags, [MODAL_TAGS.ownerPid]: DETACHED_OWNER }).catch(() => undefined);
      }
      if (terminate && instance && this.#terminating) {
        this.#exitCode = await terminateAndWait(instance).catch((error: unknown) => {
          const mapped = this.mapError(error, "lifecycle", "could not terminate the sandbox");
          if (mapped.code !== "SANDBOX_NOT_FOUND") throw mapped;
          return undefined;
        });
      } else if (terminate && instance) {
        await instance.terminate().catch((error: unknown) => {
          const mapped = this.mapError(error, "lifecycle", "could not terminate the sandbox");
          // Already gone (terminated elsewhere or expired): nothing left to release.
          if (mapped.code !== "SANDBOX_NOT_FOUND") throw mapped;
        });
      }
    } finally {
      // Closes the command-router channel; the sandbox itself is not affected.
      instance?.detach();
      this.#releaseClient();
    }
  }
}

/** How long terminate() waits for the exit code after ending the sandbox. */
const TERMINATE_WAIT_MS = 30_000;

/** Ends the sandbox and resolves its exit code (undefined when Modal does not report one in time). */
async function terminateAndWait(instance: Sandbox): Promise<number | undefined> {
  await instance.terminate();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), TERMINATE_WAIT_MS);
  });
  try {
    return await Promise.race([instance.wait(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a create failure came from building or resolving the image (the SDK raises plain errors for it). */
function isImageBuildFailure(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /image build|build of image|image .*(not found|unavailable|could not be resolved)|no local image/i.test(message);
}
