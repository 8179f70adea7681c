import { SandboxError, type SandboxErrorCode } from "@sandbox/core";
import { EngineError } from "@sandbox/docker-engine";

/** Provider name of this adapter. */
export const LOCAL_DOCKER_PROVIDER = "local-docker";

/**
 * The error every `@sandbox/local-docker` call throws. Extends core's
 * `SandboxError`: `instanceof SandboxError`, `SandboxError.isInstance` and
 * `error.code` all work; `LocalDockerSandboxError.isInstance` is true only for
 * local-docker errors (and subclasses), from any copy of this package.
 */
export class LocalDockerSandboxError extends SandboxError {
  static override readonly provider: string = LOCAL_DOCKER_PROVIDER;
  static override readonly marker: symbol = Symbol.for("@sandbox/local-docker/LocalDockerSandboxError");
}

/**
 * Maps an engine-layer failure to the contract's code. `fallback` is the code
 * of the operation that failed (creation, command, files).
 */
export function fromEngineError(error: unknown, fallback: SandboxErrorCode, context: string): LocalDockerSandboxError {
  if (SandboxError.isInstance(error)) return error as LocalDockerSandboxError;
  if (!(error instanceof EngineError)) {
    const message = error instanceof Error ? error.message : String(error);
    if (/ECONNREFUSED|ENOENT.*docker\.sock|connect EACCES/i.test(message)) {
      return new LocalDockerSandboxError("PROVIDER_UNAVAILABLE", {
        message: `${context}: no Docker engine answers (${message}); start one (bash scripts/start-docker-engine.sh) or set DOCKER_HOST`,
        cause: error,
      });
    }
    return new LocalDockerSandboxError(fallback, { message: `${context}: ${message}`, cause: error });
  }
  const code: SandboxErrorCode = (() => {
    switch (error.kind) {
      case "engine-unavailable":
        return "PROVIDER_UNAVAILABLE";
      case "image-unavailable":
        return "SANDBOX_CREATION_FAILED";
      case "not-found":
        return "SANDBOX_NOT_FOUND";
      case "resource-limit":
        return "RESOURCE_LIMIT_EXCEEDED";
      case "gpu-unavailable":
        return "RESOURCE_LIMIT_EXCEEDED";
      case "volume":
        return "VOLUME_ERROR";
      default:
        return fallback;
    }
  })();
  return new LocalDockerSandboxError(code, { message: `${context}: ${error.message}`, cause: error });
}
