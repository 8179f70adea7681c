// Consumer typecheck (CommonJS side): a CommonJS TypeScript file resolves
// every package through its `require` condition and `.d.cts` types (no
// TS1479). Only typechecked, never run.
import type { SandboxError } from "@sandbox/core";
import { EXEC_MARKER_VARIABLE } from "@sandbox/core/host-tools";
import { DockerEngine } from "@sandbox/docker-engine";
import { LocalDockerSandbox } from "@sandbox/local-docker";
import { DockerEngine as CompatDockerEngine } from "@sandbox/local-docker/engine";
import { ModalSandbox, ModalSandboxError } from "@sandbox/modal";
import { startModalEmulator } from "@sandbox/modal-emulator";

export async function commonJsUsage(): Promise<void> {
  const sandbox = await LocalDockerSandbox.create({ imageName: "sandbox-busybox:latest" });
  const text: string = (await sandbox.execute("true")).output;
  await sandbox.close();
  const error: SandboxError = new ModalSandboxError("COMMAND_FAILED");
  const engines: DockerEngine[] = [new DockerEngine(), new CompatDockerEngine()];
  void [text, error, engines, EXEC_MARKER_VARIABLE, ModalSandbox, startModalEmulator];
}
