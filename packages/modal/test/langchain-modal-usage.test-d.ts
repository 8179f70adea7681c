/*
 * Typical code written for @langchain/modal 0.1.x, with only the import
 * changed to "@sandbox/modal". It must typecheck with zero errors; it is never
 * run. Self-contained on purpose (imports only "@sandbox/modal", "deepagents"
 * and "@langchain/core"): the packaging check copies it into a consumer
 * project outside the workspace.
 */
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import {
  type AsyncModalSandboxFactory,
  createModalSandboxFactory,
  createModalSandboxFactoryFromSandbox,
  getAuthCredentials,
  type ModalCredentials,
  ModalSandbox,
  ModalSandboxError,
  type ModalSandboxErrorCode,
  type ModalSandboxOptions,
} from "@sandbox/modal";
import { createDeepAgent } from "deepagents";

declare const model: BaseChatModel;

// Credentials: either field alone, the other from the environment.
const credentials: ModalCredentials = { tokenId: "ak-123" };
const partial: ModalCredentials = { tokenSecret: "as-456" };
const resolved = getAuthCredentials({ auth: credentials });
const tokenId: string | undefined = resolved.tokenId;
const fromEnvironment: ModalCredentials = getAuthCredentials();

// Options: the documented table plus the modal SDK's own sandbox parameters.
const options: ModalSandboxOptions = {
  imageName: "python:3.12-slim",
  timeoutMs: 600_000,
  workdir: "/app",
  cpu: 1,
  memoryMiB: 1024,
  env: { MODE: "test" },
  secrets: ["my-api-keys"],
  volumes: { "/data": "my-data-volume" },
  initialFiles: { "/app/main.py": 'print("hi")' },
  auth: partial,
  appName: "my-app",
  idleTimeoutMs: 120_000,
  regions: ["us-east-1"],
  cloud: "aws",
  tags: { team: "agents" },
  cidrAllowlist: ["10.0.0.0/8"],
  outboundDomainAllowlist: ["*.example.com"],
  cpuLimit: 2,
  memoryLimitMiB: 2048,
  verbose: true,
  encryptedPorts: [8443],
  unencryptedPorts: [8080],
  h2Ports: [9443],
  customDomain: "sandboxes.example.com",
  experimentalOptions: { flag: true },
  includeOidcIdentityToken: false,
  command: ["sleep", "infinity"],
};

// Error codes as a type, and both constructors.
const codes: ModalSandboxErrorCode[] = [
  "NOT_INITIALIZED",
  "ALREADY_INITIALIZED",
  "AUTHENTICATION_FAILED",
  "SANDBOX_CREATION_FAILED",
  "SANDBOX_NOT_FOUND",
  "COMMAND_TIMEOUT",
  "COMMAND_FAILED",
  "FILE_OPERATION_FAILED",
  "RESOURCE_LIMIT_EXCEEDED",
  "VOLUME_ERROR",
];
const original = new ModalSandboxError("Sandbox creation failed", "SANDBOX_CREATION_FAILED", new Error("cause"));
const originalWithoutCause = new ModalSandboxError("no tokens", "AUTHENTICATION_FAILED");
const ours = new ModalSandboxError("COMMAND_TIMEOUT", { message: "took too long" });
const code: ModalSandboxErrorCode = original.code;
const asError: Error = ours;

export async function usage(): Promise<void> {
  // Two-step construction handed to deepagents before initialize().
  const sandbox = new ModalSandbox(options);
  const provisionalId: string = sandbox.id;
  const agent = createDeepAgent({ model, backend: sandbox });
  if (!sandbox.isRunning) await sandbox.initialize();
  const running: boolean = sandbox.isRunning;
  await agent.invoke({ messages: [{ role: "user", content: "hello" }] });

  // Standalone.
  const created = await ModalSandbox.create({ imageName: "python:3.12-slim", timeoutMs: 600_000 });
  const result = await created.execute("python --version");
  const output: string = result.output;
  const exitCode: number | null = result.exitCode;
  const uploaded = await created.uploadFiles([["/app/a.txt", new TextEncoder().encode("a")]]);
  const downloaded = await created.downloadFiles(["/app/a.txt"]);
  const firstError = uploaded[0]?.error ?? downloaded[0]?.error;

  // The modal SDK lifecycle.
  const polled: number | null = await created.poll();
  await created.terminate();
  const finished: number = await created.wait();
  const other = await ModalSandbox.create();
  await other.stop();

  // SDK access and reconnecting.
  const reconnected = await ModalSandbox.fromId(sandbox.id);
  const byName = await ModalSandbox.fromName("my-app", "my-sandbox");
  const process = await reconnected.instance.exec(["python", "-c", "print('Hello')"], { stdout: "pipe", stderr: "pipe" });
  const clientClosed = reconnected.client;

  // Factories.
  const factory: AsyncModalSandboxFactory = createModalSandboxFactory({ imageName: "python:3.12-slim" });
  const fresh: ModalSandbox = await factory();
  const reuseFactory: AsyncModalSandboxFactory = createModalSandboxFactoryFromSandbox(sandbox);
  const reused: ModalSandbox = await reuseFactory();
  const agentFromFactory = createDeepAgent({ model, backend: await factory() });

  // Error handling as documented.
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
  } finally {
    await sandbox.close();
  }

  void [
    tokenId,
    fromEnvironment,
    codes,
    originalWithoutCause,
    code,
    asError,
    provisionalId,
    running,
    output,
    exitCode,
    firstError,
    polled,
    finished,
    byName,
    process,
    clientClosed,
    fresh,
    reused,
    agentFromFactory,
  ];
}
