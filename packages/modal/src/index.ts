export { getAuthCredentials, type ModalCredentials, type ModalCredentialsSource } from "./credentials.js";
export {
  type AsyncModalSandboxFactory,
  createModalSandboxFactory,
  createModalSandboxFactoryFromSandbox,
  type ModalSandboxFactory,
} from "./factories.js";
export { DEFAULT_MODAL_APP_NAME, MODAL_SDK_PARAM_KEYS, type ModalAuth, type ModalSandboxOptions, type ModalSdkSandboxParams } from "./modal-options.js";
export { MODAL_CAPABILITIES, type ModalConnectOptions, ModalSandbox } from "./modal-sandbox.js";
export { MODAL_PROVIDER, ModalSandboxError, type ModalSandboxErrorCode, type ModalSandboxErrorOptions } from "./modal-sandbox-error.js";
export { MODAL_TAGS } from "./owner-tags.js";
export { modalProvider } from "./provider.js";
export { type ReapOptions, type ReapReport, reap } from "./reaper.js";
