// Seed page, "Standalone usage". `console` is the caller's, to capture the output.
// <seed>
import { ModalSandbox } from "@sandbox/modal";
// </seed>

export async function run(console: Pick<Console, "log">) {
// <seed>
const sandbox = await ModalSandbox.create({
  imageName: "python:3.12-slim",
  timeoutMs: 600_000,
});

const result = await sandbox.execute("python --version");
console.log(result.output);

await sandbox.close();
// </seed>
  return { sandbox, result };
}
