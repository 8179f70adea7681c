// Seed page, "Error handling". `sandbox` and `console` are the caller's.
// <seed>
import { ModalSandboxError } from "@sandbox/modal";
// </seed>
import type { ModalSandbox } from "@sandbox/modal";

export async function run(sandbox: ModalSandbox, console: Pick<Console, "error">) {
// <seed>
try {
  await sandbox.execute("some command");
} catch (error) {
  if (error instanceof ModalSandboxError) {
    switch (error.code) {
      case "NOT_INITIALIZED":
        await sandbox.initialize();
        break;
      case "COMMAND_TIMEOUT":
        console.error("Command took too long");
        break;
      case "AUTHENTICATION_FAILED":
        console.error("Check your Modal token credentials");
        break;
    }
  }
}
// </seed>
}
