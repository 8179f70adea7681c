// Seed page, "Initial files".
import { ModalSandbox } from "@sandbox/modal";

export async function run() {
// <seed>
const sandbox = await ModalSandbox.create({
  imageName: "python:3.12-slim",
  initialFiles: {
    "/app/main.py": 'print("Hello from Python!")',
    "/app/config.json": JSON.stringify({ name: "my-app" }, null, 2),
  },
});

const result = await sandbox.execute("python /app/main.py");
// </seed>
  return { sandbox, result };
}
