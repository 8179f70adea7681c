import type { SandboxCapability } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { SandboxOptions } from "../options/sandbox-options.js";

/**
 * Provider-specific set-up the suite cannot do generically. Every fixture is
 * optional; a case that needs a missing fixture fails (when the capability is
 * declared) or is skipped with the reason in its name (when the fixture only
 * provokes an error some providers cannot have, such as bad credentials).
 */
export interface ConformanceFixtures {
  /**
   * Creates a named volume before a sandbox mounts it. Leave it out where
   * volumes are created on demand.
   */
  createVolume?(name: string): Promise<void>;
  /**
   * Deletes a volume the suite created. Called in `afterAll`; without it the
   * suite leaves its volume (`conformance-<random>`) behind at the provider.
   */
  deleteVolume?(name: string): Promise<void>;
  /**
   * Stores a named secret holding `values` (environment name -> value), so a
   * sandbox created with `secrets: [name]` gets them as environment variables.
   * Required when the adapter declares the `secrets` capability.
   */
  createSecret?(name: string, values: Record<string, string>): Promise<void>;
  /** Deletes a secret the suite created. Called in `afterAll`. */
  deleteSecret?(name: string): Promise<void>;
  /**
   * Creates (and initializes) a sandbox with credentials the provider refuses.
   * Must reject with `AUTHENTICATION_FAILED`. Leave it out for providers
   * without credentials: the case is then skipped with that reason.
   */
  createWithBadCredentials?(): Promise<unknown>;
  /**
   * Creates a sandbox that mounts a volume that does not exist, for providers
   * where volumes must exist beforehand. Must reject with `VOLUME_ERROR`.
   */
  createWithMissingVolume?(): Promise<unknown>;
  /**
   * A shell command that serves HTTP on `port` (all interfaces) and answers
   * `GET /` with the content of `directory/index.html`. Default: busybox
   * `httpd`, else `python3 -m http.server`, whichever the image has.
   */
  httpServerCommand?(port: number, directory: string): string;
}

/** Time budgets for slow providers. Every value is in milliseconds. */
export interface ConformanceTimeouts {
  /**
   * How long creating and initializing one sandbox may take. Default 60000.
   * Every test that creates a sandbox gets this on top of its own budget.
   */
  createMs?: number;
  /**
   * The `timeoutMs` lifetime given to the sandbox of the "ends by itself"
   * case: a whole number of seconds. Default 5000.
   */
  lifetimeMs?: number;
  /**
   * How long after its lifetime a sandbox may take to disappear, and after
   * `close()` until `exists(id)` turns false. Default 30000.
   */
  teardownMs?: number;
  /** Budget of one 100 MiB transfer case (also the 100 MiB process output case). Default 240000. */
  transferMs?: number;
}

/** Paths the suite uses inside the sandbox. */
export interface ConformancePaths {
  /**
   * A writable directory for the suite's files (created when missing).
   * Default `/tmp`; each group works in its own `conformance-<random>` folder
   * below it.
   */
  scratch?: string;
  /**
   * A file path whose upload must fail with `permission_denied` even when the
   * sandbox runs as root. Default `/sys/conformance-denied-<random>.txt`:
   * sysfs refuses to create files (EACCES) and containers mount it read-only
   * (EROFS), and neither can be bypassed by root, unlike mode bits (a mode
   * 000 file is still readable and writable by root, so it proves nothing).
   * Set it to a path your provider refuses when the default does not apply,
   * for example in a chroot without /sys.
   */
  permissionDenied?: string;
}

/**
 * What the suite needs to know about an adapter. One object describes how to
 * create, reconnect and probe sandboxes of the provider under test.
 *
 * @example
 * ```ts
 * import { runConformanceSuite } from "@sandbox/core/conformance";
 * import { LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";
 *
 * runConformanceSuite({
 *   name: "local-docker",
 *   create: (options) => LocalDockerSandbox.create({ appName: "conformance", ...options }),
 *   construct: (options) => new LocalDockerSandbox({ appName: "conformance", ...options }),
 *   fromId: (id) => LocalDockerSandbox.fromId(id),
 *   fromName: (appName, name) => LocalDockerSandbox.fromName(appName, name),
 *   appName: "conformance",
 *   baseOptions: { imageName: "sandbox-busybox:latest" },
 *   exists: (id) => localDockerSandboxExists(id),
 *   unavailable: { gpu: "no GPU on this host" },
 * });
 * ```
 */
export interface ConformanceTarget<S extends SandboxBackend = SandboxBackend> {
  /** Shown in every `describe()` title. */
  name: string;
  /** Creates and initializes a sandbox. The suite passes `baseOptions` merged with its own. */
  create(options?: SandboxOptions): Promise<S>;
  /**
   * Returns an uninitialized handle (the two-step path: `construct()`, then
   * `initialize()`). Must not create anything at the provider. The suite also
   * reads `provider` and `capabilities` from such a handle when it registers
   * its tests, so it must not throw for valid options.
   */
  construct(options?: SandboxOptions): S;
  /** Reconnects by id. Required when the adapter declares `reconnectById`. */
  fromId?(id: string): Promise<S>;
  /** Reconnects by app and sandbox name. Required when the adapter declares `reconnectByName`. */
  fromName?(appName: string, name: string): Promise<S>;
  /**
   * The app the target's `create` puts named sandboxes in, passed to
   * `fromName`. Required when the adapter declares `reconnectByName`.
   */
  appName?: string;
  /**
   * Merged into the options of every sandbox the suite creates (the suite's
   * own options win), e.g. `{ imageName: "sandbox-busybox:latest" }`.
   */
  baseOptions?: SandboxOptions;
  /**
   * Provider probe that does not go through the adapter under test: does
   * anything of the sandbox with this id remain at the provider (running or
   * stopped)? Used to prove that `close()` and the lifetime leave nothing.
   */
  exists(id: string): Promise<boolean>;
  /**
   * Ends the sandbox with this id behind the adapter's back (as an expired
   * lifetime or a provider-side termination would), e.g. `docker kill`.
   * Used to prove that process streams and `wait()` end with
   * `SANDBOX_NOT_FOUND` instead of hanging; without it that case is skipped
   * with this reason.
   */
  killFromOutside?(id: string): Promise<void>;
  /** Provider-specific set-up; see {@link ConformanceFixtures}. */
  fixtures?: ConformanceFixtures;
  /**
   * Capabilities the adapter declares but this environment lacks, each with
   * the reason, e.g. `{ gpu: "no GPU on this host" }`. Their cases are skipped
   * with the reason, and the suite checks instead that asking for them fails
   * loudly (a `SandboxError` naming the provider and the option).
   */
  unavailable?: Partial<Record<SandboxCapability, string>>;
  /** Tuning for slow providers; see {@link ConformanceTimeouts}. */
  timeouts?: ConformanceTimeouts;
  /** Paths used inside the sandbox; see {@link ConformancePaths}. */
  paths?: ConformancePaths;
  /** GPU spec for the `gpu` case when the GPU capability is available. Default `"T4"`. */
  gpuType?: string;
  /**
   * How `id` behaves before `initialize()`. Default `"throws"`: reading it
   * fails with `NOT_INITIALIZED`. `"provisional"`: it is a non-empty
   * placeholder string, stable across reads, that `initialize()` replaces with
   * the real id (what `@langchain/modal` does, so `createDeepAgent` can take
   * an uninitialized sandbox); the suite then checks exactly that instead.
   */
  idBeforeInitialize?: "throws" | "provisional";
  /**
   * Abuse cases this target is known not to survive yet, each with the
   * reason; they are skipped with the reason in their title (a visible,
   * stated gap, never a silent one).
   */
  knownGaps?: { forkBomb?: string };
}

/** {@link ConformanceTimeouts} with every default filled in. */
export type ResolvedTimeouts = Required<ConformanceTimeouts>;

/** The defaults of {@link ConformanceTimeouts}. */
export const DEFAULT_CONFORMANCE_TIMEOUTS: ResolvedTimeouts = Object.freeze({
  createMs: 60_000,
  lifetimeMs: 5_000,
  teardownMs: 30_000,
  transferMs: 240_000,
});

/**
 * Lifetime given to the sandboxes a group shares, unless `baseOptions` sets
 * one: long enough for a slow run of the whole group, finite so that a
 * crashed test run still frees them.
 */
export const SHARED_SANDBOX_LIFETIME_MS = 900_000;

/** Fills in timeout defaults and checks the values make sense. */
export function resolveTimeouts(timeouts: ConformanceTimeouts | undefined): ResolvedTimeouts {
  const resolved = { ...DEFAULT_CONFORMANCE_TIMEOUTS, ...(timeouts ?? {}) };
  for (const [key, value] of Object.entries(resolved)) {
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new TypeError(`ConformanceTarget.timeouts.${key} must be a positive whole number of milliseconds, got ${String(value)}`);
    }
  }
  if (resolved.lifetimeMs % 1000 !== 0) {
    throw new TypeError(`ConformanceTarget.timeouts.lifetimeMs must be a whole number of seconds (the timeoutMs option's unit), got ${resolved.lifetimeMs}`);
  }
  return resolved;
}
