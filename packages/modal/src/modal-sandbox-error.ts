import { SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "@sandbox/core";

/** Provider name of this adapter, shown as `[modal]` where its errors are displayed. */
export const MODAL_PROVIDER = "modal";

/** Marks this package's errors across duplicated package copies (see {@link ModalSandboxError.isInstance}). */
const MODAL_ERROR_MARKER = Symbol.for("@sandbox/modal/ModalSandboxError");

/**
 * The error every `@sandbox/modal` call throws. Extends core's `SandboxError`:
 * `instanceof ModalSandboxError`, `instanceof SandboxError`,
 * `SandboxError.isInstance(error)` and `error.code` all work. The original
 * SDK or gRPC error is kept as `cause`; messages never contain token values.
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
  readonly [MODAL_ERROR_MARKER] = true as const;

  /** True only for Modal errors (and subclasses), from any copy of this package; `SandboxError.isInstance` is true for all. */
  static override isInstance(error: unknown): error is ModalSandboxError {
    return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MODAL_ERROR_MARKER] === true;
  }

  constructor(code: SandboxErrorCode, options: Omit<SandboxErrorOptions, "provider"> = {}) {
    super(code, { ...options, provider: MODAL_PROVIDER });
  }
}
