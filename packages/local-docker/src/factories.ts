import { memoizedSandboxFactory } from "@sandbox/core";
import { LocalDockerSandboxError } from "./local-docker-error.js";
import { LocalDockerSandbox, type LocalDockerSandboxOptions } from "./local-docker-sandbox.js";

/**
 * A factory that creates one sandbox on first use and returns that same
 * sandbox on every later call (deepagents resolves the backend on every tool
 * call, so a factory that created a sandbox per call would leak them).
 * The caller closes it: `(await factory()).close()`.
 */
export function createLocalDockerSandboxFactory(options: LocalDockerSandboxOptions = {}): () => Promise<LocalDockerSandbox> {
  // Validate now, so a bad option fails where the factory is made.
  new LocalDockerSandbox(options);
  return memoizedSandboxFactory(() => LocalDockerSandbox.create(options));
}

/** A factory that always returns `sandbox`, for reuse across invocations. */
export function createLocalDockerSandboxFactoryFromSandbox(sandbox: LocalDockerSandbox): () => Promise<LocalDockerSandbox> {
  // Duck-typed, so a sandbox from a second copy of this package still passes.
  if (typeof (sandbox as Partial<LocalDockerSandbox> | null)?.execute !== "function") {
    throw new LocalDockerSandboxError("INVALID_ARGUMENT", {
      message: `createLocalDockerSandboxFactoryFromSandbox needs a LocalDockerSandbox, got ${sandbox === null ? "null" : typeof sandbox}`,
    });
  }
  return async () => sandbox;
}
