import type { ModalSandboxOptions } from "./modal-options.js";
import { ModalSandbox } from "./modal-sandbox.js";
import { ModalSandboxError } from "./modal-sandbox-error.js";

/** A function that resolves a sandbox, as `@langchain/modal` types its factories. */
export type AsyncModalSandboxFactory = () => Promise<ModalSandbox>;

/**
 * What {@link createModalSandboxFactory} returns: an {@link AsyncModalSandboxFactory}
 * that deepagents can also call as a backend factory (with its runtime), plus
 * `close()` for the sandboxes it made.
 */
export interface ModalSandboxFactory extends AsyncModalSandboxFactory {
  /**
   * Without an argument: creates a new sandbox. With deepagents' backend
   * runtime: the sandbox of that agent invocation (created on first use).
   */
  (runtime?: unknown): Promise<ModalSandbox>;
  /** Sandboxes this factory created that are not closed yet. */
  readonly sandboxes: readonly ModalSandbox[];
  /**
   * Closes (terminates) every sandbox this factory created and has not seen
   * closed, including ones still being created. Idempotent; the factory stays
   * usable.
   */
  close(): Promise<void>;
}

/** The LangChain runnable config of the current call, when LangChain's AsyncLocalStorage carries one. */
function currentRunnableConfig(): Record<string, unknown> | undefined {
  // @langchain/core keeps its AsyncLocalStorage on globalThis under these
  // registered symbols (so every copy of the package shares it); reading it
  // this way needs no import of @langchain/core.
  const storage = (globalThis as Record<symbol, unknown>)[Symbol.for("ls:tracing_async_local_storage")] as { getStore?: () => unknown } | undefined;
  const store = storage?.getStore?.() as { extra?: Record<symbol, unknown> } | undefined;
  const config = store?.extra?.[Symbol.for("lc:child_config")];
  return typeof config === "object" && config !== null ? (config as Record<string, unknown>) : undefined;
}

const objectField = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;

/**
 * What identifies one agent invocation in the runtime deepagents hands a
 * backend factory. LangGraph creates one stream `writer` per `invoke()` /
 * `stream()` and hands that same function to every model call, tool call and
 * middleware hook of the run (tools and model calls carry it on the runtime;
 * hooks that only get `{ state }` find it in LangChain's async context).
 * Without a writer: the thread id (`configurable.thread_id`).
 */
function invocationKey(runtime: object): object | string | undefined {
  const config = currentRunnableConfig();
  const writer = objectField(runtime, "writer") ?? objectField(objectField(runtime, "config"), "writer") ?? config?.writer;
  if (typeof writer === "function") return writer;
  const threadId =
    objectField(objectField(runtime, "configurable"), "thread_id") ??
    objectField(objectField(objectField(runtime, "config"), "configurable"), "thread_id") ??
    objectField(config?.configurable, "thread_id");
  if (typeof threadId === "string" && threadId !== "") return `thread:${threadId}`;
  return undefined;
}

/**
 * A factory of new sandboxes, as the seed says ("Create new sandbox per
 * invocation"):
 *
 * - `await factory()` creates a new sandbox on every call; the caller owns it
 *   and closes it.
 * - As a deepagents backend (`createDeepAgent({ backend: factory })`),
 *   deepagents calls it with its runtime on every tool call, model call and
 *   middleware hook. All calls of one agent invocation (`agent.invoke()` /
 *   `agent.stream()`) then share one sandbox, created on first use, so files
 *   written by one tool call are there for the next; the next invocation gets
 *   a new sandbox. (The invocation is recognised by the stream writer
 *   LangGraph creates per run; when a runtime carries none, by its thread id;
 *   when it carries neither, such calls share one sandbox per factory.)
 *
 * What ends those sandboxes: nothing waits for the invocation to finish (a
 * backend factory is not told), so each runs until `factory.close()`
 * terminates it, or at the latest until its `timeoutMs` lifetime (default 5
 * minutes) passes and Modal ends it. Call `factory.close()` when the agent
 * work is done (e.g. in `finally`); pick `timeoutMs` as the longest an
 * invocation may take.
 *
 * Options are validated at once: a bad option throws `INVALID_OPTIONS` here.
 *
 * @example
 * ```ts
 * const factory = createModalSandboxFactory({ imageName: "python:3.12-slim", timeoutMs: 600_000 });
 * const agent = createDeepAgent({ model, backend: factory });
 * try {
 *   await agent.invoke({ messages }); // one sandbox for this invocation
 * } finally {
 *   await factory.close();
 * }
 * ```
 */
export function createModalSandboxFactory(options: ModalSandboxOptions = {}): ModalSandboxFactory {
  // Validate now, so a bad option fails where the factory is made.
  new ModalSandbox(options);
  const live = new Set<ModalSandbox>();
  const pending = new Set<Promise<ModalSandbox | undefined>>();
  const byObject = new WeakMap<object, Promise<ModalSandbox>>();
  const byString = new Map<string, Promise<ModalSandbox>>();
  let shared: Promise<ModalSandbox> | undefined;

  const create = (): Promise<ModalSandbox> => {
    const creation = ModalSandbox.create(options).then((sandbox) => {
      live.add(sandbox);
      return sandbox;
    });
    const settled = creation.catch(() => undefined);
    pending.add(settled);
    void settled.then(() => pending.delete(settled));
    return creation;
  };

  // A memoized creation whose failure is forgotten, so the next call retries;
  // a sandbox found closed is replaced.
  const memoized = (get: () => Promise<ModalSandbox> | undefined, set: (value: Promise<ModalSandbox> | undefined) => void): Promise<ModalSandbox> => {
    const existing = get();
    if (existing) {
      return existing.then((sandbox) => {
        if (sandbox.state !== "closed") return sandbox;
        if (get() === existing) set(undefined);
        return memoized(get, set);
      });
    }
    const creation = create();
    set(creation);
    creation.catch(() => {
      if (get() === creation) set(undefined);
    });
    return creation;
  };

  const factory = (async (runtime?: unknown): Promise<ModalSandbox> => {
    if (typeof runtime !== "object" || runtime === null) return create();
    const key = invocationKey(runtime);
    if (key !== undefined && typeof key !== "string")
      return memoized(
        () => byObject.get(key),
        (value) => (value ? byObject.set(key, value) : byObject.delete(key)),
      );
    if (typeof key === "string")
      return memoized(
        () => byString.get(key),
        (value) => (value ? byString.set(key, value) : byString.delete(key)),
      );
    return memoized(
      () => shared,
      (value) => (shared = value),
    );
  }) as ModalSandboxFactory;

  Object.defineProperty(factory, "sandboxes", {
    get: () => [...live].filter((sandbox) => sandbox.state !== "closed"),
    enumerable: true,
  });
  factory.close = async () => {
    await Promise.all([...pending]);
    const sandboxes = [...live];
    live.clear();
    byString.clear();
    shared = undefined;
    const results = await Promise.allSettled(sandboxes.map((sandbox) => sandbox.close()));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failure) throw failure.reason;
  };
  return factory;
}

/**
 * A factory that always returns `sandbox`, to reuse one existing sandbox
 * across invocations. The caller still owns it and closes it.
 */
export function createModalSandboxFactoryFromSandbox(sandbox: ModalSandbox): AsyncModalSandboxFactory {
  // Duck-typed, so a sandbox from a second copy of this package still passes.
  if (typeof (sandbox as Partial<ModalSandbox> | null)?.execute !== "function") {
    throw new ModalSandboxError("INVALID_ARGUMENT", {
      message: `createModalSandboxFactoryFromSandbox needs a ModalSandbox, got ${sandbox === null ? "null" : typeof sandbox}`,
    });
  }
  return async () => sandbox;
}
