/**
 * Every error code a sandbox adapter may throw, with its default message and
 * whether retrying the same call can reasonably succeed.
 *
 * The first ten are the codes of the documented Modal API (`@langchain/modal`);
 * the rest are what the provider-agnostic contract needs on top.
 */
export const SANDBOX_ERROR_CODES = {
  NOT_INITIALIZED: { message: "Sandbox not initialized - call initialize()", retryable: false },
  ALREADY_INITIALIZED: { message: "Cannot initialize twice", retryable: false },
  AUTHENTICATION_FAILED: { message: "Invalid or missing provider credentials", retryable: false },
  SANDBOX_CREATION_FAILED: { message: "Failed to create sandbox", retryable: true },
  SANDBOX_NOT_FOUND: { message: "Sandbox ID/name not found or expired", retryable: false },
  COMMAND_TIMEOUT: { message: "Command execution timed out", retryable: true },
  COMMAND_FAILED: { message: "Command execution failed (the sandbox could not run it; a non-zero exit is not this)", retryable: true },
  FILE_OPERATION_FAILED: { message: "File read/write failed", retryable: false },
  RESOURCE_LIMIT_EXCEEDED: { message: "CPU, memory, or storage limits exceeded", retryable: false },
  VOLUME_ERROR: { message: "Volume operation failed", retryable: false },
  INVALID_OPTIONS: { message: "Invalid sandbox options", retryable: false },
  INVALID_ARGUMENT: { message: "Invalid argument", retryable: false },
  UNSUPPORTED_CAPABILITY: { message: "The provider does not support this option or call", retryable: false },
  SANDBOX_CLOSED: { message: "Sandbox was closed; create or reconnect a new handle", retryable: false },
  PROVIDER_UNAVAILABLE: { message: "The provider could not be reached", retryable: true },
  UNKNOWN_PROVIDER: { message: "No provider registered under that name", retryable: false },
} as const satisfies Record<string, { message: string; retryable: boolean }>;

/** A code from {@link SANDBOX_ERROR_CODES}. */
export type SandboxErrorCode = keyof typeof SANDBOX_ERROR_CODES;

/** All codes, in declaration order. */
export const sandboxErrorCodes = Object.keys(SANDBOX_ERROR_CODES) as SandboxErrorCode[];

/** True when `value` is one of the codes in {@link SANDBOX_ERROR_CODES}. */
export function isSandboxErrorCode(value: unknown): value is SandboxErrorCode {
  return typeof value === "string" && Object.hasOwn(SANDBOX_ERROR_CODES, value);
}
