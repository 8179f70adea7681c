export { CHROOT_PROVIDER, ChrootSandboxError } from "./chroot-error.js";
export { CHROOT_CAPABILITIES, type ChrootReconnectOptions, ChrootSandbox, type ChrootSandboxOptions, chrootSandboxExists } from "./chroot-sandbox.js";
export { hostProblem } from "./host-tools.js";
export { chrootProvider } from "./provider.js";
