import { hasErrorMarker, isSandboxErrorCode, SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "@sandbox/core";

/** Provider name of this adapter, shown as `[modal]` where its errors are displayed. */
export const MODAL_PROVIDER = "modal";

/**
 * Exactly the codes a {@link ModalSandboxError} can carry: every contract code
 * except `UNKNOWN_PROVIDER` (only the provider registry of `@sandbox/core`
 * throws that one, as a plain `SandboxError`). The first ten are the codes of
 * `@langchain/modal`; the rest are what the contract adds (`INVALID_OPTIONS`,
 * `INVALID_ARGUMENT`, `UNSUPPORTED_CAPABILITY`, `SANDBOX_CLOSED`,
 * `PROVIDER_UNAVAILABLE`).
 */
export type ModalSandboxErrorCode = Exclude<SandboxErrorCode, "UNKNOWN_PROVIDER">;

/** Options of `new ModalSandboxError(code, options)`. */
export type ModalSandboxErrorOptions = Omit<SandboxErrorOptions, "provider">;

function isModalSandboxErrorCode(value: unknown): value is ModalSandboxErrorCode {
  return isSandboxErrorCode(value) && value !== "UNKNOWN_PROVIDER";
}

/**
 * The error every `@sandbox/modal` call throws. Extends core's `SandboxError`:
 * `instanceof ModalSandboxError`, `instanceof SandboxError`,
 * `SandboxError.isInstance(error)` and `error.code` all work. The original
 * SDK or gRPC error is kept as `cause`; messages never contain token values.
 *
 * Two constructors, told apart at run time by the second argument:
 * - `new ModalSandboxError(code, options?)`: this package's form;
 * - `new ModalSandboxError(message, code, cause?)`: the form of
 *   `@langchain/modal` (second argument is a string).
 *
 * Both make the same kind of error (`provider === "modal"`, shown as
 * `[modal]` where displayed, retryability from the code). An unknown code throws
 * `INVALID_ARGUMENT` naming it.
 *
 * @example
 * ```ts
 * try {
 *   await sandbox.execute("some command");
 * } catch (error) {
 *   if (error instanceof ModalSandboxError && error.code === "COMMAND_TIMEOUT") console.error(error.output);
 * }
 * ```
 */
export class ModalSandboxError extends SandboxError {
  declare readonly code: ModalSandboxErrorCode;
  static override readonly provider: string = MODAL_PROVIDER;
  /** Marks this package's errors across duplicated package copies (see {@link ModalSandboxError.isInstance}). */
  static override readonly marker: symbol = Symbol.for("@sandbox/modal/ModalSandboxError");

  /** True only for Modal errors (and subclasses), from any copy of this package; `SandboxError.isInstance` is true for all. */
  static override isInstance(error: unknown): error is ModalSandboxError {
    return hasErrorMarker(error, ModalSandboxError.marker);
  }

  /** This package's form: a code and optional details. */
  constructor(code: ModalSandboxErrorCode, options?: ModalSandboxErrorOptions);
  /** The `@langchain/modal` form: a message, a code and optionally the underlying error. */
  constructor(message: string, code: ModalSandboxErrorCode, cause?: Error);
  constructor(first: string, second?: ModalSandboxErrorOptions | string, third?: unknown) {
    const legacy = typeof second === "string";
    const code = legacy ? second : first;
    if (!isModalSandboxErrorCode(code)) {
      throw new ModalSandboxError("INVALID_ARGUMENT", {
        message: `unknown ModalSandboxError code ${JSON.stringify(String(code)).slice(0, 80)}; expected one of the ModalSandboxErrorCode values (e.g. "COMMAND_FAILED")`,
        details: { argument: legacy ? "code" : "code (first argument)" },
      });
    }
    const options: ModalSandboxErrorOptions = legacy
      ? { message: first, ...(third === undefined ? {} : { cause: third }) }
      : ((second as ModalSandboxErrorOptions | undefined) ?? {});
    super(code, options);
  }
}
