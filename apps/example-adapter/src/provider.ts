import { defineSandboxProvider, type SandboxProvider } from "@sandbox/core";
import { CHROOT_PROVIDER } from "./chroot-error.js";
import { CHROOT_CAPABILITIES, ChrootSandbox, type ChrootSandboxOptions } from "./chroot-sandbox.js";

/**
 * The registry entry of this adapter. Exporting it registers nothing:
 * `createSandboxRegistry({ chroot: chrootProvider })`, then
 * `SANDBOX_PROVIDER=chroot` picks it.
 */
export const chrootProvider: SandboxProvider<ChrootSandboxOptions, ChrootSandbox> = defineSandboxProvider({
  name: CHROOT_PROVIDER,
  description: "chroot jails in their own Linux namespaces on this host (needs root, util-linux and busybox-static)",
  capabilities: CHROOT_CAPABILITIES,
  sandbox: ChrootSandbox,
});
