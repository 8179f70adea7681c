export { CHROOT_CAPABILITIES, ChrootSandbox, chrootSandboxExists, type ChrootReconnectOptions, type ChrootSandboxOptions } from "./chroot-sandbox.js";
export { CHROOT_PROVIDER, ChrootSandboxError } from "./chroot-error.js";
export { chrootProvider } from "./provider.js";
export { hostProblem } from "./host-tools.js";
