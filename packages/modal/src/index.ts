export { MODAL_CAPABILITIES, ModalSandbox, type ModalConnectOptions } from "./modal-sandbox.js";
export { DEFAULT_MODAL_APP_NAME, type ModalAuth, type ModalSandboxOptions } from "./modal-options.js";
export { MODAL_PROVIDER, ModalSandboxError } from "./modal-sandbox-error.js";
export { createModalSandboxFactory, createModalSandboxFactoryFromSandbox } from "./factories.js";
export { modalProvider } from "./provider.js";
export { reap, type ReapOptions, type ReapReport } from "./reaper.js";
export { MODAL_TAGS } from "./owner-tags.js";
