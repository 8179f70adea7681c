// Seed page, "Factory functions". The page's snippet uses ModalSandbox
// without showing its import.
// <seed>
import { createModalSandboxFactory, createModalSandboxFactoryFromSandbox } from "@sandbox/modal";
// </seed>
import { ModalSandbox } from "@sandbox/modal";

export async function run() {
// <seed>
// Create new sandbox per invocation
const factory = createModalSandboxFactory({ imageName: "python:3.12-slim" });

// Or reuse an existing sandbox across invocations
const sandbox = await ModalSandbox.create();
const reuseFactory = createModalSandboxFactoryFromSandbox(sandbox);
// </seed>
  return { factory, sandbox, reuseFactory };
}
