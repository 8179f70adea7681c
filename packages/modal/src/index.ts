export { MODAL_CAPABILITIES, ModalSandbox, type ModalConnectOptions } from "./modal-sandbox.js";
export { DEFAULT_MODAL_APP_NAME, MODAL_SDK_PARAM_KEYS, type ModalAuth, type ModalSandboxOptions, type ModalSdkSandboxParams } from "./modal-options.js";
export { MODAL_PROVIDER, ModalSandboxError, type ModalSandboxErrorCode, type ModalSandboxErrorOptions } from "./modal-sandbox-error.js";
export { getAuthCredentials, type ModalCredentials, type ModalCredentialsSource } from "./credentials.js";
export {
  createModalSandboxFactory,
  createModalSandboxFactoryFromSandbox,
  type AsyncModalSandboxFactory,
  type ModalSandboxFactory,
} from "./factories.js";
export { modalProvider } from "./provider.js";
export { reap, type ReapOptions, type ReapReport } from "./reaper.js";
export { MODAL_TAGS } from "./owner-tags.js";
