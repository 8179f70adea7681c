import type { EngineContainer } from "@sandbox/docker-engine";
import { type ExecSession, SIGKILL } from "./exec-session.js";
import { OutputBuffer } from "./output-buffer.js";
import { FileDescriptor } from "./protocol-values.js";
import { ResourceUsageMeter } from "./resource-usage.js";
import { SandboxLog } from "./sandbox-logs.js";
import type { OpenPort } from "./sandbox-tunnels.js";
import type { SandboxVolumeMount } from "./volume-sync.js";

/** How long finishing a sandbox waits for its container to disappear. */
const CONTAINER_GONE_TIMEOUT_MS = 10_000;

/** The RPC family a sandbox was created with; its id shape tells the SDK which one to use. */
export type SandboxFamily = "v1" | "v2";

/** `GenericResult.status` values the sandbox RPCs report. */
export const GenericStatus = {
  running: 0,
  success: 1,
  failure: 2,
  terminated: 3,
  timeout: 4,
} as const;

/** The part of `GenericResult` the emulator fills in. */
export interface SandboxResult {
  status: (typeof GenericStatus)[keyof typeof GenericStatus];
  exitcode: number;
  exception: string;
}

/** What a sandbox was created with, kept for listing and inspection. */
export interface SandboxRecordInit {
  sandboxId: string;
  taskId: string;
  family: SandboxFamily;
  appId: string;
  imageId: string;
  name: string | undefined;
  tags: Record<string, string>;
  timeoutSecs: number;
  /** End the sandbox after this long with no exec running; `undefined`: never. */
  idleTimeoutSecs: number | undefined;
  createdAtSeconds: number;
  container: EngineContainer;
  /** Volumes mounted, so a mounted volume is not deleted under a running sandbox. */
  volumeIds: string[];
}

/**
 * One sandbox: its container, its execs, its entrypoint output, its tags and
 * name, and how it ended. The record outlives the container so `wait`,
 * `poll` and lookups keep answering after the sandbox finished.
 */
export class SandboxRecord {
  // Set from the init in the constructor (declared, so they are not reset after it).
  declare readonly sandboxId: string;
  declare readonly taskId: string;
  declare readonly family: SandboxFamily;
  declare readonly appId: string;
  declare readonly imageId: string;
  declare readonly timeoutSecs: number;
  declare readonly idleTimeoutSecs: number | undefined;
  declare readonly createdAtSeconds: number;
  declare readonly container: EngineContainer;
  declare readonly volumeIds: string[];
  declare name: string | undefined;
  declare tags: Record<string, string>;
  readonly execs = new Map<string, ExecSession>();
  /** Entrypoint output: what V1 `SandboxGetLogs` and V2 `SandboxStdioReadV2` serve. */
  /** The entrypoint's output as timestamped entries, for `sandbox.logs` (`AppFetchLogs`, `AppCountLogs`). */
  readonly entrypointLog = new SandboxLog();
  readonly entrypointStdout = new OutputBuffer(undefined, (chunk) => this.entrypointLog.record(FileDescriptor.stdout, chunk));
  readonly entrypointStderr = new OutputBuffer(undefined, (chunk) => this.entrypointLog.record(FileDescriptor.stderr, chunk));
  entrypoint: ExecSession | undefined;
  /** The sandbox's private copies of its volumes (see `VolumeSync`). */
  volumeMounts: SandboxVolumeMount[] = [];
  /** Ports opened at create, tunnelled on 127.0.0.1 (see sandbox-tunnels.ts). */
  openPorts: OpenPort[] = [];
  /** Resolves with when the readiness probe passed (epoch seconds), `undefined` if the sandbox ended first; unset without a probe. */
  readiness: Promise<number | undefined> | undefined;
  /** Next expected 1-based index of V1 `SandboxStdinWrite`, for de-duplicating retries. */
  v1StdinNextIndex = 1;
  #result: SandboxResult | undefined;
  #finishedAtSeconds: number | undefined;
  #waiters: Array<() => void> = [];
  #lifetimeTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #cleanup: Promise<void> | undefined;
  #resolveEnded!: (result: SandboxResult) => void;
  /** Resolves with the result when the sandbox ends, however it ends. */
  readonly ended: Promise<SandboxResult> = new Promise((resolve) => {
    this.#resolveEnded = resolve;
  });

  /** CPU time and memory-time of the container (`SandboxGetResourceUsage`); sampling starts with {@link ResourceUsageMeter.start}. */
  readonly usage: ResourceUsageMeter;

  constructor(init: SandboxRecordInit) {
    Object.assign(this, init);
    this.usage = new ResourceUsageMeter(init.container, init.createdAtSeconds * 1000);
  }

  /** How the sandbox ended, or `undefined` while it runs. */
  get result(): SandboxResult | undefined {
    return this.#result;
  }

  get finishedAtSeconds(): number | undefined {
    return this.#finishedAtSeconds;
  }

  get running(): boolean {
    return this.#result === undefined;
  }

  /** Arms the lifetime: at `timeoutSecs` the sandbox ends with status TIMEOUT. */
  armLifetime(): void {
    this.#lifetimeTimer = setTimeout(() => {
      void this.finish({ status: GenericStatus.timeout, exitcode: 0, exception: "Sandbox timed out" });
    }, this.timeoutSecs * 1000);
    this.#lifetimeTimer.unref();
    this.touch();
  }

  /**
   * Records activity for the idle timeout: the sandbox is idle when no exec
   * is running, and ends (TIMEOUT) after `idleTimeoutSecs` of that.
   */
  touch(): void {
    if (this.idleTimeoutSecs === undefined || this.#result) return;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      const busy = [...this.execs.values()].some((exec) => !exec.status);
      if (busy) return this.touch();
      void this.finish({ status: GenericStatus.timeout, exitcode: 0, exception: "Sandbox idle timeout" });
    }, this.idleTimeoutSecs * 1000);
    this.#idleTimer.unref();
  }

  /**
   * Resolves with the result once finished, or with `undefined` after
   * `timeoutMs` (a long poll) or when `signal` aborts.
   */
  waitForResult(timeoutMs: number, signal?: AbortSignal): Promise<SandboxResult | undefined> {
    if (this.#result || timeoutMs <= 0) return Promise.resolve(this.#result);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#waiters = this.#waiters.filter((waiter) => waiter !== done);
        resolve(this.#result);
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      this.#waiters.push(done);
    });
  }

  /**
   * Ends the sandbox with `result` (first caller wins): kills every exec,
   * closes the entrypoint output, then stops and removes the container.
   * Resolves when the container is gone.
   */
  finish(result: SandboxResult): Promise<void> {
    if (!this.#result) {
      this.#result = result;
      this.#finishedAtSeconds = Date.now() / 1000;
      if (this.#lifetimeTimer) clearTimeout(this.#lifetimeTimer);
      if (this.#idleTimer) clearTimeout(this.#idleTimer);
      for (const exec of this.execs.values()) {
        if (!exec.status) exec.finish({ signal: SIGKILL });
        // A filesystem read may still be streaming after its exit: it ends with the sandbox.
        exec.stdout.close();
      }
      if (this.entrypoint && !this.entrypoint.status) this.entrypoint.finish({ signal: SIGKILL });
      this.entrypointStdout.close();
      this.entrypointStderr.close();
      this.#resolveEnded(result);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiters) waiter();
      this.#cleanup = (async () => {
        // The last usage reading, while the container's cgroup is still there.
        await this.usage.stop().catch(() => undefined);
        await this.container.stop().catch(() => undefined);
        await this.container.remove().catch(() => undefined);
        // Auto-removal finishes after the kill returns; volumes stay "in use" until it has.
        const deadline = Date.now() + CONTAINER_GONE_TIMEOUT_MS;
        while (Date.now() < deadline) {
          const gone = await this.container.inspect().then(
            () => false,
            (error: unknown) => (error as { kind?: string }).kind === "not-found",
          );
          if (gone) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
    }
    return this.#cleanup ?? Promise.resolve();
  }
}
