export { DEFAULT_MAX_READ_FILE_BYTES, FILESYSTEM_TOOL_PATH, MAX_PROCESS_READ_BYTES } from "./filesystem-tools.js";
export { DEFAULT_IMAGE_ALIASES } from "./image-resolver.js";
export type { RecordedExecStart, RecordedSandboxCreate } from "./inspection-log.js";
export {
  COMPONENT_LABEL,
  INSTANCE_LABEL,
  MANAGED_LABEL,
  type ModalEmulator,
  type ModalEmulatorInspector,
  type ModalEmulatorOptions,
  type RecordedCall,
  type SandboxSummary,
  startModalEmulator,
} from "./modal-emulator.js";
export { PINNED_MODAL_SDK_VERSION } from "./modal-sdk-definitions.js";
export { OIDC_AUDIENCE, OIDC_ISSUER } from "./oidc-tokens.js";
export { MODAL_CLOUD_PROVIDERS, MODAL_REGIONS } from "./sandbox-options.js";
export type { SandboxFamily, SandboxResult } from "./sandbox-record.js";
