import { SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "@sandbox/core";

/** Provider name of this adapter, the `[modal]` prefix of its messages. */
export const MODAL_PROVIDER = "modal";

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
  constructor(code: SandboxErrorCode, options: Omit<SandboxErrorOptions, "provider"> = {}) {
    super(code, { ...options, provider: MODAL_PROVIDER });
  }
}
