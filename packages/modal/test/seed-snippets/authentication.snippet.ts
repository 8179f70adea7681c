// Seed page, "Authentication": credentials passed directly. The page's
// snippet uses ModalSandbox without showing its import.
import { ModalSandbox } from "@sandbox/modal";

export async function run() {
// <seed>
const sandbox = await ModalSandbox.create({
  auth: {
    tokenId: "your-token-id",
    tokenSecret: "your-token-secret",
  },
});
// </seed>
  return sandbox;
}
