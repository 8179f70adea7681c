import { randomBytes } from "node:crypto";
import { afterAll, it } from "vitest";
import { allCapabilities, SANDBOX_CAPABILITY_NAMES, type SandboxCapabilities, type SandboxCapability } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import { type ConformanceTarget, type ResolvedTimeouts, resolveTimeouts, SHARED_SANDBOX_LIFETIME_MS } from "./conformance-target.js";
import { describeThrown } from "./expect-sandbox-error.js";
import { shellQuote } from "./sandbox-probes.js";

/** What the suite learned about a target at registration time. */
export interface TargetProbe {
  provider: string;
  capabilities: SandboxCapabilities;
  /** Set when `construct()` failed; every group then reports it. */
  failure?: string;
}

const probes = new WeakMap<object, TargetProbe>();

/**
 * Reads `provider` and `capabilities` from an uninitialized handle, once per
 * target. Registration is synchronous, so this is the only place the suite
 * can learn which groups to gate. When `construct()` fails the suite assumes
 * every capability (so nothing is skipped silently) and reports the failure.
 */
export function probeTarget(target: ConformanceTarget<SandboxBackend>): TargetProbe {
  const known = probes.get(target);
  if (known) return known;
  let probe: TargetProbe;
  try {
    const handle = target.construct({ ...(target.baseOptions ?? {}) });
    const provider = handle.provider;
    const capabilities = handle.capabilities;
    void Promise.resolve()
      .then(() => handle.close())
      .catch(() => undefined);
    const problems: string[] = [];
    if (typeof provider !== "string" || provider.length === 0) problems.push(`provider is ${JSON.stringify(provider)} instead of a non-empty string`);
    if (typeof capabilities !== "object" || capabilities === null) problems.push("capabilities is not an object");
    const missing = SANDBOX_CAPABILITY_NAMES.filter((name) => typeof capabilities?.[name] !== "boolean");
    if (capabilities && missing.length > 0) problems.push(`capabilities lacks boolean flags for: ${missing.join(", ")}`);
    probe = {
      provider: typeof provider === "string" && provider ? provider : target.name,
      capabilities: { ...allCapabilities(true), ...(capabilities ?? {}) },
      ...(problems.length > 0 ? { failure: `construct() returned a handle whose ${problems.join("; ")}` } : {}),
    };
  } catch (error) {
    probe = {
      provider: target.name,
      capabilities: allCapabilities(true),
      failure: `construct(baseOptions) threw ${describeThrown(error)}; it must return an uninitialized handle without contacting the provider`,
    };
  }
  probes.set(target, probe);
  return probe;
}

/** A short random suffix for names and paths, unique per call. */
export function randomSuffix(): string {
  return randomBytes(4).toString("hex");
}

/** Waits `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` until it returns true or `timeoutMs` passes; returns whether
 * it became true. Errors thrown by `check` propagate.
 */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await delay(intervalMs);
  }
}

/** Rejects with a clear message when `promise` takes longer than `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Per-group state: the target, what it supports, and every sandbox the group
 * created, so that `afterAll` closes them all (even when a case failed half
 * way) and then checks with the provider probe that none was left behind.
 */
export class SuiteContext<S extends SandboxBackend = SandboxBackend> {
  readonly provider: string;
  readonly capabilities: SandboxCapabilities;
  readonly timeouts: ResolvedTimeouts;
  /** A folder for this group's files inside sandboxes, e.g. `/tmp/conformance-1a2b3c4d`. */
  readonly scratch: string;
  readonly #handles = new Set<S>();
  readonly #ids = new Set<string>();
  readonly #shared = new Map<string, Promise<S>>();
  readonly #cleanups: Array<() => Promise<void>> = [];

  constructor(
    readonly target: ConformanceTarget<S>,
    readonly group: string,
  ) {
    const probe = probeTarget(target as unknown as ConformanceTarget<SandboxBackend>);
    this.provider = probe.provider;
    this.capabilities = probe.capabilities;
    this.timeouts = resolveTimeouts(target.timeouts);
    const scratchRoot = (target.paths?.scratch ?? "/tmp").replace(/\/+$/, "");
    this.scratch = `${scratchRoot}/conformance-${group}-${randomSuffix()}`;
    if (probe.failure) {
      const failure = probe.failure;
      it("construct() returns an uninitialized handle with provider and capabilities", () => {
        throw new Error(failure);
      });
    }
    afterAll(
      async () => {
        await this.cleanUp();
      },
      this.timeouts.teardownMs * 2 + 60_000,
    );
  }

  /** The `describe` title of a group, e.g. `local-docker › execute`. */
  static title(target: { name: string }, group: string): string {
    return `${target.name} › ${group}`;
  }

  /**
   * Why a capability's cases are skipped, or `undefined` when they run: the
   * adapter declares it false, or the target marks it unavailable here.
   */
  skipReason(capability: SandboxCapability): string | undefined {
    const unavailable = this.target.unavailable?.[capability];
    if (unavailable !== undefined) return `${capability} unavailable in this environment: ${unavailable}`;
    if (!this.capabilities[capability]) return `${this.provider} declares no ${capability} capability`;
    return undefined;
  }

  /** A case title that carries the skip reason when there is one. */
  gated(title: string, capability: SandboxCapability): { title: string; skip: boolean } {
    const reason = this.skipReason(capability);
    return reason === undefined ? { title, skip: false } : { title: `${title} (skipped: ${reason})`, skip: true };
  }

  /** Test budget for a case that creates `sandboxes` sandboxes and then needs `extraMs`. */
  budget(sandboxes: number, extraMs = 30_000): number {
    return sandboxes * this.timeouts.createMs + extraMs;
  }

  /** Test budget for a case that uses one sandbox and then needs `extraMs` (an arrow: groups take it out as `budget`). */
  readonly oneSandboxBudget = (extraMs = 30_000): number => this.budget(1, extraMs);

  /** The group's default {@link shared} sandbox (an arrow: groups take it out as `shared`). */
  readonly sharedSandbox = (): Promise<S> => this.shared();

  /** The options every sandbox gets: a long-enough lifetime, then `baseOptions`, then `options`. */
  options(options: SandboxOptions = {}): SandboxOptions {
    return { timeoutMs: SHARED_SANDBOX_LIFETIME_MS, ...(this.target.baseOptions ?? {}), ...options };
  }

  /** Creates a sandbox through the target and tracks it for cleanup. */
  async create(options: SandboxOptions = {}): Promise<S> {
    // Called through an async function: an adapter that validates options in
    // a synchronous constructor throws here, which becomes a rejection.
    const sandbox = await this.target.create(this.options(options));
    this.track(sandbox);
    return sandbox;
  }

  /** Builds an uninitialized handle through the target and tracks it. */
  construct(options: SandboxOptions = {}): S {
    const handle = this.target.construct(this.options(options));
    this.track(handle);
    return handle;
  }

  /** Initializes a constructed handle and remembers its id for the leak check. */
  async initialize(handle: S): Promise<void> {
    await handle.initialize();
    this.track(handle);
  }

  /** Tracks a handle obtained elsewhere (e.g. `fromId`); remembers its id when it has one. */
  track(handle: S): S {
    this.#handles.add(handle);
    try {
      if (handle.isInitialized) this.#ids.add(handle.id);
    } catch {
      // No id yet (or already closed): nothing to remember.
    }
    return handle;
  }

  /** Remembers an id for the final leak check (for ids read before a close). */
  rememberId(id: string): void {
    this.#ids.add(id);
  }

  /**
   * One sandbox shared by the cases of a group, created on first use (so a
   * filtered run creates nothing it does not need), with {@link scratch}
   * already made. If creation fails, every case using it fails with that error.
   */
  shared(key = "default", options: SandboxOptions = {}): Promise<S> {
    let sandbox = this.#shared.get(key);
    if (!sandbox) {
      sandbox = this.create(options).then(async (created) => {
        const prepared = await created.execute(`mkdir -p ${shellQuote(this.scratch)}`);
        if (prepared.exitCode !== 0) throw new Error(`could not create the scratch directory ${this.scratch} (exit ${prepared.exitCode}): ${prepared.output}`);
        return created;
      });
      // Keep the rejection observable by each case without an unhandled warning.
      sandbox.catch(() => undefined);
      this.#shared.set(key, sandbox);
    }
    return sandbox;
  }

  /** Registers provider-side clean-up (volumes, secrets) run after the sandboxes close. */
  onCleanUp(cleanup: () => Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  /** Whether the provider probe still sees the sandbox, with a readable failure. */
  async exists(id: string): Promise<boolean> {
    try {
      return await this.target.exists(id);
    } catch (error) {
      throw new Error(`the target's exists(${JSON.stringify(id)}) probe threw ${describeThrown(error)}`);
    }
  }

  /**
   * Closes every tracked handle (each at most `teardownMs`), runs the
   * registered clean-ups, then asks the provider probe whether any sandbox
   * the group created is still there. Throws one error listing every problem.
   */
  async cleanUp(): Promise<void> {
    const problems: string[] = [];
    const handles = [...this.#handles];
    this.#handles.clear();
    for (const handle of handles) {
      try {
        if (handle.isInitialized) this.#ids.add(handle.id);
      } catch {
        // Already closed: its id was remembered when it was tracked.
      }
    }
    const closing = await Promise.allSettled(
      handles.map((handle) =>
        withTimeout(
          Promise.resolve().then(() => handle.close()),
          this.timeouts.teardownMs,
          "close()",
        ),
      ),
    );
    for (const outcome of closing) {
      if (outcome.status === "rejected") problems.push(`close() failed: ${describeThrown(outcome.reason)}`);
    }
    for (const cleanup of this.#cleanups.splice(0)) {
      try {
        await cleanup();
      } catch (error) {
        problems.push(`fixture clean-up failed: ${describeThrown(error)}`);
      }
    }
    const ids = [...this.#ids];
    this.#ids.clear();
    const leaked: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        try {
          const gone = await waitFor(async () => !(await this.target.exists(id)), this.timeouts.teardownMs, 500);
          if (!gone) leaked.push(id);
        } catch (error) {
          problems.push(`exists(${id}) threw ${describeThrown(error)}`);
        }
      }),
    );
    if (leaked.length > 0) {
      problems.push(`sandboxes still exist at the provider ${this.timeouts.teardownMs} ms after close(): ${leaked.join(", ")}`);
    }
    if (problems.length > 0) {
      throw new Error(`${this.target.name} › ${this.group}: clean-up found problems:\n- ${problems.join("\n- ")}`);
    }
  }
}
