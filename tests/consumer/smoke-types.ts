// Consumer typecheck (ESM side): every published entry resolves with types,
// and a local-docker sandbox is a deepagents backend for the installed
// deepagents version. Only typechecked (tsc --noEmit), never run.

import { createSandboxRegistry, type SandboxAdapter, type SandboxBackend, SandboxError, type SandboxOptions } from "@sandbox/core";
import { currentOwner, EXEC_MARKER_VARIABLE, KILL_BY_MARKER_SCRIPT, type OwnerIdentity } from "@sandbox/core/host-tools";
import { DockerEngine, EngineError, LABELS } from "@sandbox/docker-engine";
import { LocalDockerSandbox, LocalDockerSandboxError, type LocalDockerSandboxOptions, localDockerProvider } from "@sandbox/local-docker";
import { DockerEngine as CompatDockerEngine } from "@sandbox/local-docker/engine";
import { ModalSandbox, modalProvider } from "@sandbox/modal";
import { type ModalEmulator, startModalEmulator } from "@sandbox/modal-emulator";
import { type BackendProtocolV2, createDeepAgent, type SandboxBackendProtocolV2 } from "deepagents";

export async function typedUsage(): Promise<void> {
  const options: LocalDockerSandboxOptions = { imageName: "sandbox-busybox:latest", timeoutMs: 60_000 };
  const sandbox = await LocalDockerSandbox.create(options);
  const asProtocol: SandboxBackendProtocolV2 = sandbox;
  const asBackend: BackendProtocolV2 = sandbox;
  const asContract: SandboxBackend = sandbox;
  createDeepAgent({ backend: sandbox });
  const result = await sandbox.execute("echo hi");
  const output: string = result.output;
  const exitCode: number | null = result.exitCode;
  const uploaded = await sandbox.uploadFiles([["/tmp/a.txt", new TextEncoder().encode("a")]]);
  const downloaded = await sandbox.downloadFiles(["/tmp/a.txt"]);
  const bytes: Uint8Array | null = downloaded[0]!.content;
  await sandbox.close();

  const registry = createSandboxRegistry({ "local-docker": localDockerProvider, modal: modalProvider }, { defaultProvider: "local-docker" });
  const common: SandboxOptions = { imageName: "sandbox-busybox:latest" };
  const engine: DockerEngine = new CompatDockerEngine();
  const owner: OwnerIdentity = currentOwner();
  const label: string = LABELS.managed;
  const marker: string = `${EXEC_MARKER_VARIABLE} ${KILL_BY_MARKER_SCRIPT}`;
  const emulator: ModalEmulator = await startModalEmulator({ tokenId: "ak-local", tokenSecret: "as-local", engine: new DockerEngine() });
  const modal = await ModalSandbox.create({ imageName: "alpine:3.21" });
  const isError: boolean = new LocalDockerSandboxError("COMMAND_FAILED") instanceof SandboxError;
  const engineError: boolean = new Error() instanceof EngineError;
  const adapterClass: abstract new (...args: never[]) => SandboxAdapter = LocalDockerSandbox;
  void [
    asProtocol,
    asBackend,
    asContract,
    output,
    exitCode,
    uploaded,
    bytes,
    registry,
    common,
    engine,
    owner,
    label,
    marker,
    emulator,
    modal,
    isError,
    engineError,
    adapterClass,
  ];
}
