// Typical code written for @langchain/modal 0.1.x, with only the import
// changed to @sandbox/modal. Only typechecked (tsc --noEmit), never run.
// (The lead swaps in the fuller packages/modal/test/langchain-modal-usage.test-d.ts
// from the modal work at merge.)
import { createDeepAgent } from "deepagents";
import { ModalSandbox, ModalSandboxError, createModalSandboxFactory, createModalSandboxFactoryFromSandbox, type ModalSandboxOptions } from "@sandbox/modal";

export async function langchainModalUsage(): Promise<void> {
  // Authentication passed directly.
  const withAuth = await ModalSandbox.create({ auth: { tokenId: "your-token-id", tokenSecret: "your-token-secret" } });
  await withAuth.close();

  // Every option of the documented configuration table.
  const options: ModalSandboxOptions = {
    imageName: "python:3.12-slim",
    timeoutMs: 600_000,
    workdir: "/app",
    gpu: "T4",
    cpu: 0.5,
    memoryMiB: 1024,
    volumes: { "/data": "my-data-volume", "/models": "my-models-volume" },
    secrets: ["my-api-keys", "database-credentials"],
    initialFiles: { "/app/main.py": 'print("Hello from Python!")', "/app/data.bin": new Uint8Array([1, 2, 3]) },
    env: { MODE: "test" },
    blockNetwork: true,
    name: "my-sandbox",
  };
  const sandbox = await ModalSandbox.create(options);

  // Usage with deepagents.
  try {
    const agent = createDeepAgent({ systemPrompt: "You are a coding assistant with sandbox access.", backend: sandbox });
    await agent.invoke({ messages: [{ role: "user", content: "Install numpy and calculate pi" }] });
  } finally {
    await sandbox.close();
  }

  // Standalone usage.
  const standalone = await ModalSandbox.create({ imageName: "python:3.12-slim", timeoutMs: 600_000 });
  const result = await standalone.execute("python --version");
  const output: string = result.output;
  const exitCode: number | null = result.exitCode;
  const truncated: boolean = result.truncated;
  console.log(output, exitCode, truncated);
  const id: string = standalone.id;

  // The Modal SDK underneath.
  const client = standalone.client;
  const instance = standalone.instance;
  const process = await instance.exec(["python", "-c", "print('Hello')"], { stdout: "pipe", stderr: "pipe" });
  const text: string = await process.stdout.readText();
  void [client, text];

  // Reconnecting.
  const reconnected: ModalSandbox = await ModalSandbox.fromId(id);
  const reconnected2: ModalSandbox = await ModalSandbox.fromName("my-app", "my-sandbox");
  void [reconnected, reconnected2];

  // Two-step creation.
  const twoStep = new ModalSandbox({ imageName: "python:3.12-slim" });
  await twoStep.initialize();

  // Factories.
  const factory = createModalSandboxFactory({ imageName: "python:3.12-slim" });
  const fromFactory: ModalSandbox = await factory();
  const reuseFactory = createModalSandboxFactoryFromSandbox(standalone);
  const reused: ModalSandbox = await reuseFactory();
  void [fromFactory, reused];

  // Error handling.
  try {
    await standalone.execute("some command");
  } catch (error) {
    if (error instanceof ModalSandboxError) {
      const message: string = error.message;
      switch (error.code) {
        case "NOT_INITIALIZED":
          await standalone.initialize();
          break;
        case "ALREADY_INITIALIZED":
        case "AUTHENTICATION_FAILED":
        case "SANDBOX_CREATION_FAILED":
        case "SANDBOX_NOT_FOUND":
        case "COMMAND_TIMEOUT":
        case "COMMAND_FAILED":
        case "FILE_OPERATION_FAILED":
        case "RESOURCE_LIMIT_EXCEEDED":
        case "VOLUME_ERROR":
          console.error(message);
          break;
      }
    }
  }
  await standalone.close();
}
