import { SandboxError } from "@sandbox/core";

/** Provider name of this adapter: its registry key, shown as `[chroot]` where its errors are displayed. */
export const CHROOT_PROVIDER = "chroot";

/**
 * The error every call of this adapter throws. Extends core's `SandboxError`,
 * so `instanceof SandboxError`, `SandboxError.isInstance(error)` and
 * `error.code` all work. Declaring the provider fixes it on every error; its
 * own marker makes `ChrootSandboxError.isInstance` claim only this adapter's
 * errors (from any copy of the package).
 */
export class ChrootSandboxError extends SandboxError {
  static override readonly provider: string = CHROOT_PROVIDER;
  static override readonly marker: symbol = Symbol.for("@sandbox/example-adapter/ChrootSandboxError");
}
