// Seed page, "Accessing the Modal SDK".
import { ModalSandbox } from "@sandbox/modal";

export async function run() {
// <seed>
const modalSandbox = await ModalSandbox.create();

const client = modalSandbox.client;     // ModalClient
const instance = modalSandbox.instance;  // Sandbox

// Direct SDK operations
const process = await instance.exec(["python", "-c", "print('Hello')"], {
  stdout: "pipe",
  stderr: "pipe",
});
// </seed>
  return { modalSandbox, client, instance, process };
}
