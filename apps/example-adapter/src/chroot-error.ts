import { hasErrorMarker, SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "@sandbox/core";

/** Provider name of this adapter: its registry key, shown as `[chroot]` where its errors are displayed. */
export const CHROOT_PROVIDER = "chroot";

/** Marks this adapter's errors, so `ChrootSandboxError.isInstance` claims only them (across package copies too). */
const CHROOT_ERROR_MARKER = Symbol.for("@sandbox/example-adapter/ChrootSandboxError");

// Same shape as every adapter's error class, on purpose: each provider declares its own class (a
// public name, its own marker, a typed isInstance guard), which a class factory would hide from readers.
/**
 * The error every call of this adapter throws. Extends core's `SandboxError`,
 * so `instanceof SandboxError`, `SandboxError.isInstance(error)` and
 * `error.code` all work, and the provider is always `"chroot"`.
 */
export class ChrootSandboxError extends SandboxError {
  readonly [CHROOT_ERROR_MARKER] = true as const;

  constructor(code: SandboxErrorCode, options: Omit<SandboxErrorOptions, "provider"> = {}) {
    super(code, { ...options, provider: CHROOT_PROVIDER });
  }

  /** True only for this adapter's errors; `SandboxError.isInstance` is true for every adapter's. */
  static override isInstance(error: unknown): error is ChrootSandboxError {
    return hasErrorMarker(error, CHROOT_ERROR_MARKER);
  }
}
