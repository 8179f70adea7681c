import { memoizedSandboxFactory } from "@sandbox/core";
import type { ModalSandboxOptions } from "./modal-options.js";
import { ModalSandbox } from "./modal-sandbox.js";

/**
 * A memoized factory: the first call creates one sandbox, every later call
 * returns that same sandbox (a failed creation is retried on the next call).
 *
 * Why memoized: deepagents resolves a backend factory on every tool call,
 * model call and middleware hook, and shares it with subagents. A factory
 * that created a sandbox per call would start dozens of Modal sandboxes for
 * one agent run, each billed until its `timeoutMs`. One factory = one
 * sandbox; make a new factory per independent agent run.
 *
 * The caller closes the sandbox: `await (await factory()).close()`.
 *
 * @example
 * ```ts
 * const factory = createModalSandboxFactory({ imageName: "python:3.12-slim" });
 * const agent = createDeepAgent({ model, backend: await factory() });
 * try { await agent.invoke({ messages }); } finally { await (await factory()).close(); }
 * ```
 */
export function createModalSandboxFactory(options: ModalSandboxOptions = {}): () => Promise<ModalSandbox> {
  // Validate now, so a bad option fails where the factory is made.
  new ModalSandbox(options);
  return memoizedSandboxFactory(() => ModalSandbox.create(options));
}

/**
 * A factory that always returns `sandbox`, to reuse one existing sandbox
 * across invocations. The caller still owns it and closes it.
 */
export function createModalSandboxFactoryFromSandbox(sandbox: ModalSandbox): () => Promise<ModalSandbox> {
  return async () => sandbox;
}
