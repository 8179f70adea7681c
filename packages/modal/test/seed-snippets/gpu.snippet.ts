// Seed page, "GPU support".
import { ModalSandbox } from "@sandbox/modal";

export async function run() {
// <seed>
const sandbox = await ModalSandbox.create({
  imageName: "python:3.12-slim",
  gpu: "T4",  // or "L4", "A10G", "A100", "H100"
});
// </seed>
  return sandbox;
}
