/**
 * Errors of the engine layer. They carry a `kind` so adapters (local-docker,
 * the Modal emulator) map them to their own error codes without parsing text.
 */
export type EngineErrorKind =
  | "engine-unavailable"
  | "image-unavailable"
  | "not-found"
  | "conflict"
  | "resource-limit"
  | "gpu-unavailable"
  | "volume"
  | "exec-failed"
  | "unknown";

export class EngineError extends Error {
  readonly kind: EngineErrorKind;
  readonly statusCode: number | undefined;

  constructor(kind: EngineErrorKind, message: string, options: { cause?: unknown; statusCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EngineError";
    this.kind = kind;
    this.statusCode = options.statusCode;
  }
}

/** HTTP status of a dockerode error, when it has one. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** The engine's own message from a dockerode error (its JSON body), else the error message. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === "string") return json.message;
  const reason = (error as { reason?: unknown } | null)?.reason;
  const message = error instanceof Error ? error.message : String(error);
  return typeof reason === "string" && !message.includes(reason) ? `${reason}: ${message}` : message;
}

/** True when the engine did not answer at all (socket missing, refused, reset): the engine is down, not the request wrong. */
export function engineUnreachable(error: unknown): boolean {
  if (statusOf(error) !== undefined) return false;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && ["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE", "EACCES"].includes(code)) return true;
  return /ECONNREFUSED|ENOENT.*docker\.sock|socket hang up|ECONNRESET/i.test(engineMessage(error));
}
