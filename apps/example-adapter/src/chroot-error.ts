import { SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "@sandbox/core";

/** Provider name of this adapter: the `[chroot]` prefix of its messages and its registry key. */
export const CHROOT_PROVIDER = "chroot";

/**
 * The error every call of this adapter throws. Extends core's `SandboxError`,
 * so `instanceof SandboxError`, `SandboxError.isInstance(error)` and
 * `error.code` all work, and the provider is always `"chroot"`.
 */
export class ChrootSandboxError extends SandboxError {
  constructor(code: SandboxErrorCode, options: Omit<SandboxErrorOptions, "provider"> = {}) {
    super(code, { ...options, provider: CHROOT_PROVIDER });
  }
}
