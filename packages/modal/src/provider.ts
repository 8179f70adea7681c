import { defineSandboxProvider, type SandboxProvider } from "@sandbox/core";
import type { ModalSandboxOptions } from "./modal-options.js";
import { MODAL_CAPABILITIES, ModalSandbox } from "./modal-sandbox.js";
import { MODAL_PROVIDER } from "./modal-sandbox-error.js";

/**
 * The registry entry for this adapter. Exporting it registers nothing:
 * `createSandboxRegistry({ modal: modalProvider })`, or lazily
 * `{ modal: () => import("@sandbox/modal").then((module) => module.modalProvider) }`.
 */
export const modalProvider: SandboxProvider<ModalSandboxOptions, ModalSandbox> = defineSandboxProvider({
  name: MODAL_PROVIDER,
  description: "Modal cloud sandboxes through the official modal SDK (needs MODAL_TOKEN_ID / MODAL_TOKEN_SECRET; GPUs, volumes, secrets)",
  capabilities: MODAL_CAPABILITIES,
  sandbox: ModalSandbox,
});
