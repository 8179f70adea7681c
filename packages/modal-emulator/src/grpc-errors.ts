import { EngineError } from "@sandbox/docker-engine";
import { ServerError, Status } from "nice-grpc";

/**
 * Turns any failure inside a handler into a gRPC status with the message kept.
 *
 * Why: nice-grpc answers UNKNOWN ("Unknown server error occurred") for plain
 * errors, which hides the cause and which the SDK retries. Engine errors carry
 * a `kind` that maps to the status the SDK turns into the right error class.
 */
export function toServerError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineError) {
    switch (error.kind) {
      case "not-found":
        return new ServerError(Status.NOT_FOUND, message);
      case "engine-unavailable":
        return new ServerError(Status.UNAVAILABLE, `modal-emulator: ${message}`);
      case "resource-limit":
      case "gpu-unavailable":
        return new ServerError(Status.RESOURCE_EXHAUSTED, message);
      case "conflict":
        return new ServerError(Status.ALREADY_EXISTS, message);
      case "image-unavailable":
      case "volume":
      case "exec-failed":
        return new ServerError(Status.FAILED_PRECONDITION, message);
      default:
        return new ServerError(Status.INTERNAL, message);
    }
  }
  return new ServerError(Status.INTERNAL, `modal-emulator internal error: ${message}`);
}

/** Throws a gRPC error with this status and message (what the SDK turns into its error classes). */
export function fail(code: Status, message: string): never {
  throw new ServerError(code, message);
}
