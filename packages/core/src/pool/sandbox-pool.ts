import { DEFAULT_SANDBOX_TIMEOUT_MS } from "../contract/defaults.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { SandboxError } from "../errors/sandbox-error.js";
import { MAX_SANDBOX_TIMEOUT_MS, type SandboxOptions } from "../options/sandbox-options.js";
import { SANDBOX_CLAIM_KEYS, type SandboxClaim } from "./sandbox-claim.js";

/** A sandbox a pool can hand out warm: `SandboxAdapter` provides both members. */
export interface ClaimableSandbox extends SandboxBackend {
  readonly supportsClaim: boolean;
  applyClaim(claim: SandboxClaim): Promise<void>;
}

/** Settings of {@link createSandboxPool}. */
export interface SandboxPoolSettings<O extends SandboxOptions, S extends SandboxBackend> {
  /**
   * Creates and initializes a sandbox (the adapter's `create`). Used both to
   * start pooled sandboxes and for cold creates.
   */
  create(options: O): Promise<S>;
  /**
   * The one option set of this pool (image, resources, network, volumes and
   * adapter options). It is also the default of every claim: a claim's
   * options are laid over it. Its `env`, `secrets`, `workdir`,
   * `initialFiles` and `timeoutMs` are applied at claim time, not when the
   * pooled sandbox starts. `name` is refused (a name fits one sandbox only).
   */
  options?: O;
  /** Sandboxes kept started and idle. Whole number, 0 to 64. */
  size: number;
  /**
   * Lifetime of a pooled sandbox at the provider, counted from its start
   * (its expiry label, so the reaper removes it like any sandbox). A claim
   * gets its own, shorter lifetime from the claim on; a claim asking for more
   * than a pooled sandbox has left is served cold. Default 3600000 (1 hour).
   */
  maxLifetimeMs?: number;
  /** At most this many pooled sandboxes start at once. Default 2. */
  maxConcurrentStarts?: number;
  /** Told about every failed background start (the pool retries with backoff). */
  onError?(error: unknown): void;
}

/** Counters of a {@link SandboxPool}. */
export interface SandboxPoolStats {
  /** Started and waiting for a claim. */
  idle: number;
  /** Being started in the background. */
  starting: number;
  /** Claims served from the pool. */
  warmClaims: number;
  /** Claims served by a cold create (incompatible request or empty pool). */
  coldCreates: number;
  /** Background starts that failed. */
  startFailures: number;
}

/**
 * Pre-started sandboxes of one option set, claimed on demand. See
 * {@link createSandboxPool}.
 */
export interface SandboxPool<O extends SandboxOptions, S extends SandboxBackend> {
  /**
   * A ready sandbox for `options` (laid over the pool's options): a pooled
   * one with the claim applied when the request is compatible and one is
   * idle, else a cold create with the caller's options. Either way the caller
   * owns it and closes it; it is indistinguishable from a cold one.
   */
  claim(options?: O): Promise<S>;
  /** Whether a claim with these options could be served from the pool (ignoring whether one is idle). */
  isCompatible(options?: O): boolean;
  /** Resolves once the pool holds `size` idle sandboxes, or rejects with the last start error when none could be started. */
  ready(): Promise<void>;
  readonly stats: SandboxPoolStats;
  /** Stops refilling and closes every idle and starting pooled sandbox. Claimed ones are the callers'. Idempotent. */
  close(): Promise<void>;
}

interface Pooled<S> {
  sandbox: S;
  /** Epoch ms after which the provider ends it. */
  expiresAt: number;
}

/** A claim must have at least this much of a pooled sandbox's lifetime left on top of its own. */
const EXPIRY_MARGIN_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * A warm pool for any adapter whose sandboxes support claims
 * (`supportsClaim`, as `SandboxAdapter` subclasses that implement
 * `claimSandbox` do). It keeps `size` sandboxes of one option set started,
 * refills in the background (at most `maxConcurrentStarts` at once, never
 * more than `size` idle plus starting), and hands them out on `claim()`.
 * Requests it cannot serve (another image, cpu, memory, gpu, volumes,
 * network, adapter option or a `name`) are created cold, transparently; so
 * is everything when the adapter does not support claims.
 *
 * @example
 * ```ts
 * const pool = createSandboxPool({ create: (o) => LocalDockerSandbox.create(o), options: { imageName: "python:3.12-slim" }, size: 4 });
 * const sandbox = await pool.claim({ env: { TASK: "42" }, workdir: "/work", timeoutMs: 600_000 });
 * // ... sandbox.execute(...); await sandbox.close();
 * await pool.close();
 * ```
 */
export function createSandboxPool<O extends SandboxOptions, S extends SandboxBackend>(settings: SandboxPoolSettings<O, S>): SandboxPool<O, S> {
  validateSettings(settings);
  const base = (settings.options ?? {}) as O;
  const size = settings.size;
  const maxLifetimeMs = settings.maxLifetimeMs ?? 3_600_000;
  const maxConcurrentStarts = settings.maxConcurrentStarts ?? 2;
  const pooledOptions = { ...base, timeoutMs: maxLifetimeMs } as O;
  for (const key of SANDBOX_CLAIM_KEYS) if (key !== "timeoutMs") delete (pooledOptions as SandboxOptions)[key];

  const idle: Array<Pooled<S>> = [];
  const starting = new Set<Promise<void>>();
  const stats = { warmClaims: 0, coldCreates: 0, startFailures: 0 };
  let closed = false;
  let unsupported = false;
  let failuresInARow = 0;
  let lastError: unknown;
  let backoff: ReturnType<typeof setTimeout> | undefined;
  const waiters: Array<() => void> = [];

  const notify = () => {
    for (const wake of waiters.splice(0)) wake();
  };

  const refill = () => {
    if (closed || unsupported || backoff) return;
    while (idle.length + starting.size < size && starting.size < maxConcurrentStarts) {
      const attempt: Promise<void> = (async () => {
        const started = Date.now();
        let sandbox: S;
        try {
          sandbox = await settings.create({ ...pooledOptions });
        } catch (error) {
          stats.startFailures += 1;
          failuresInARow += 1;
          lastError = error;
          settings.onError?.(error);
          return;
        }
        failuresInARow = 0;
        if (closed) {
          await sandbox.close().catch(() => undefined);
          return;
        }
        if ((sandbox as Partial<ClaimableSandbox>).supportsClaim !== true || typeof (sandbox as Partial<ClaimableSandbox>).applyClaim !== "function") {
          unsupported = true;
          await sandbox.close().catch(() => undefined);
          return;
        }
        idle.push({ sandbox, expiresAt: started + maxLifetimeMs });
      })();
      starting.add(attempt);
      void attempt.finally(() => {
        starting.delete(attempt);
        notify();
        if (failuresInARow > 0 && !closed) {
          // Back off so an engine that refuses every start is not hammered.
          const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failuresInARow - 1, 10));
          if (!backoff) {
            backoff = setTimeout(() => {
              backoff = undefined;
              refill();
            }, delay);
            backoff.unref?.();
          }
          return;
        }
        refill();
      });
    }
  };

  const isCompatible = (options?: O): boolean => {
    if (unsupported) return false;
    const effective = { ...base, ...(options ?? {}) } as Record<string, unknown>;
    if (effective.name !== undefined) return false;
    const keys = new Set([...Object.keys(effective), ...Object.keys(base)]);
    for (const key of keys) {
      if ((SANDBOX_CLAIM_KEYS as readonly string[]).includes(key)) continue;
      if (!sameValue(effective[key], (base as Record<string, unknown>)[key])) return false;
    }
    const lifetime = effective.timeoutMs;
    return lifetime === undefined || (typeof lifetime === "number" && lifetime <= maxLifetimeMs);
  };

  const takeIdle = (lifetimeMs: number): S | undefined => {
    const now = Date.now();
    while (idle.length > 0) {
      const entry = idle.shift()!;
      if (entry.expiresAt - now >= lifetimeMs + EXPIRY_MARGIN_MS) return entry.sandbox;
      // Too little lifetime left for this claim (and for most later ones): recycle it.
      void entry.sandbox.close().catch(() => undefined);
    }
    return undefined;
  };

  const pool: SandboxPool<O, S> = {
    async claim(options?: O): Promise<S> {
      if (closed) throw new SandboxError("SANDBOX_CLOSED", { message: "the sandbox pool is closed" });
      const effective = { ...base, ...(options ?? {}) } as O;
      if (isCompatible(options)) {
        const lifetimeMs = effective.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS;
        const sandbox = takeIdle(typeof lifetimeMs === "number" ? lifetimeMs : DEFAULT_SANDBOX_TIMEOUT_MS);
        if (sandbox) {
          refill();
          const claim: SandboxClaim = {};
          for (const key of SANDBOX_CLAIM_KEYS) {
            if (effective[key] !== undefined) (claim as Record<string, unknown>)[key] = effective[key];
          }
          try {
            await (sandbox as unknown as ClaimableSandbox).applyClaim(claim);
          } catch (error) {
            await sandbox.close().catch(() => undefined);
            throw error;
          }
          stats.warmClaims += 1;
          return sandbox;
        }
      }
      stats.coldCreates += 1;
      refill();
      return settings.create(effective);
    },
    isCompatible,
    async ready(): Promise<void> {
      refill();
      for (;;) {
        if (closed) throw new SandboxError("SANDBOX_CLOSED", { message: "the sandbox pool is closed" });
        if (unsupported || idle.length >= size) return;
        if (starting.size === 0 && !backoff) refill();
        if (starting.size === 0 && lastError !== undefined && idle.length === 0) throw lastError;
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          if (backoff) setTimeout(resolve, 250).unref?.();
        });
      }
    },
    get stats(): SandboxPoolStats {
      return { idle: idle.length, starting: starting.size, ...stats };
    },
    async close(): Promise<void> {
      closed = true;
      if (backoff) clearTimeout(backoff);
      backoff = undefined;
      notify();
      const pending = [...starting];
      await Promise.all(idle.splice(0).map((entry) => entry.sandbox.close().catch(() => undefined)));
      // Starts in flight close their sandbox themselves once they see `closed`.
      await Promise.all(pending.map((attempt) => attempt.catch(() => undefined)));
    },
  };
  refill();
  return pool;
}

function validateSettings<O extends SandboxOptions, S extends SandboxBackend>(settings: SandboxPoolSettings<O, S>): void {
  const fail = (option: string, message: string): never => {
    throw new SandboxError("INVALID_OPTIONS", { message: `invalid pool setting "${option}": ${message}`, details: { option } });
  };
  if (typeof settings !== "object" || settings === null) throw new SandboxError("INVALID_OPTIONS", { message: "createSandboxPool expects a settings object" });
  if (typeof settings.create !== "function") fail("create", "must be a function that creates and initializes a sandbox");
  if (!Number.isInteger(settings.size) || settings.size < 0 || settings.size > 64)
    fail("size", `must be a whole number from 0 to 64, got ${String(settings.size)}`);
  const lifetime = settings.maxLifetimeMs;
  if (lifetime !== undefined && (!Number.isInteger(lifetime) || lifetime < 60_000 || lifetime > MAX_SANDBOX_TIMEOUT_MS || lifetime % 1000 !== 0)) {
    fail("maxLifetimeMs", `must be whole seconds from 60000 to ${MAX_SANDBOX_TIMEOUT_MS} ms, got ${String(lifetime)}`);
  }
  const concurrency = settings.maxConcurrentStarts;
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16))
    fail("maxConcurrentStarts", `must be a whole number from 1 to 16, got ${String(concurrency)}`);
  if (settings.onError !== undefined && typeof settings.onError !== "function") fail("onError", "must be a function");
  if (settings.options !== undefined && (typeof settings.options !== "object" || settings.options === null)) fail("options", "must be an options object");
  if (settings.options?.name !== undefined)
    fail("options.name", "a pool cannot hold named sandboxes (a name fits one sandbox); give the name to a cold create");
}

/** Structural equality for option values: plain objects and arrays by content, anything else (clients, functions) by identity. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((value, index) => sameValue(value, b[index]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) if (!sameValue(a[key], b[key])) return false;
    return true;
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
