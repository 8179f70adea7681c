// Seed page, "Reconnecting to existing sandboxes". `sandboxId` is the caller's.
import { ModalSandbox } from "@sandbox/modal";

export async function run(sandboxId: string) {
// <seed>
// Reconnect by ID
const reconnected = await ModalSandbox.fromId(sandboxId);

// Reconnect by name
const reconnected2 = await ModalSandbox.fromName("my-app", "my-sandbox");
// </seed>
  return { reconnected, reconnected2 };
}
