/**
 * The README's code, type-checked: the adapter sketch ("Write an adapter"),
 * the registry example and the conformance test file. Only the made-up
 * provider SDK is replaced by a local stand-in; the rest is the README's shape.
 */
import type { FileDownloadResponse, FileUploadResponse } from "deepagents";
import { describe, expectTypeOf, it } from "vitest";
import { type ConformanceTarget, runConformanceSuite } from "./conformance/index.js";
import {
  allCapabilities,
  type CommandOutcome,
  type CommandRequest,
  createSandboxRegistry,
  DEFAULT_IMAGE_NAME,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  SANDBOX_SPECIFICATION_VERSION,
  SandboxAdapter,
  type SandboxBackend,
  SandboxError,
  type SandboxErrorCode,
  type SandboxErrorOptions,
  type SandboxOptions,
  type SandboxProvider,
} from "./index.js";

/** Stand-in for the README's made-up `acme-sdk`. */
interface AcmeProcess {
  stdout: { on(event: "data", listener: (chunk: Uint8Array) => void): void };
  stderr: { on(event: "data", listener: (chunk: Uint8Array) => void): void };
  killTree(): Promise<void>;
  exitCode(): Promise<number>;
}
interface AcmeBox {
  id: string;
  exec(argv: string[], options: { cwd: string | undefined; env: Record<string, string>; stdin: "closed" }): Promise<AcmeProcess>;
  writeFile(path: string, content: Uint8Array): Promise<FileUploadResponse["error"]>;
  readFile(path: string): Promise<FileDownloadResponse>;
  status(): Promise<"running" | "stopped">;
  terminate(): Promise<void>;
}
declare class AcmeClient {
  boxes: { create(options: { image: string; lifetimeSeconds: number }): Promise<AcmeBox>; get(id: string): Promise<AcmeBox> };
  close(): void;
}
declare function acmeSandboxExists(id: string): Promise<boolean>;

class AcmeSandboxError extends SandboxError {}

class AcmeSandbox extends SandboxAdapter {
  #client = new AcmeClient();
  #box: AcmeBox | undefined;

  constructor(options?: SandboxOptions) {
    super(options, {
      provider: "acme",
      capabilities: { ...allCapabilities(false), lifetime: true, streaming: true, processKill: true, reconnectById: true },
    });
  }

  static async create(options?: SandboxOptions): Promise<AcmeSandbox> {
    const sandbox = new AcmeSandbox(options);
    await sandbox.initialize();
    return sandbox;
  }

  static async fromId(id: string): Promise<AcmeSandbox> {
    const sandbox = new AcmeSandbox();
    await sandbox.start(async () => {
      sandbox.#box = await sandbox.#client.boxes.get(id);
      return id;
    });
    return sandbox;
  }

  protected async provision(): Promise<string> {
    this.#box = await this.#client.boxes.create({
      image: this.options.imageName ?? DEFAULT_IMAGE_NAME,
      lifetimeSeconds: (this.options.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS) / 1000,
    });
    return this.#box.id;
  }

  protected async runCommand(request: CommandRequest): Promise<CommandOutcome> {
    const child = await this.#box!.exec(["sh", "-c", request.command], { cwd: request.cwd, env: request.env, stdin: "closed" });
    child.stdout.on("data", request.onStdout);
    child.stderr.on("data", request.onStderr);
    request.signal.addEventListener("abort", () => void child.killTree(), { once: true });
    return { exitCode: await child.exitCode() };
  }

  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    return Promise.all(files.map(async ([path, content]) => ({ path, error: await this.#box!.writeFile(path, content) })));
  }

  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    return Promise.all(paths.map((path) => this.#box!.readFile(path)));
  }

  protected async checkRunning(): Promise<boolean> {
    return (await this.#box!.status()) === "running";
  }

  protected async release(terminate: boolean): Promise<void> {
    if (terminate) await this.#box?.terminate().catch(() => undefined);
    this.#client.close();
  }

  protected override error(code: SandboxErrorCode, options: SandboxErrorOptions = {}): SandboxError {
    return new AcmeSandboxError(code, this.scrub({ ...options, provider: this.provider }));
  }
}

const acmeProvider: SandboxProvider<SandboxOptions, AcmeSandbox> = {
  name: "acme",
  specificationVersion: SANDBOX_SPECIFICATION_VERSION, // "sandbox-v1": the registry refuses another
  create: (options) => AcmeSandbox.create(options),
  fromId: (id) => AcmeSandbox.fromId(id),
};

describe("README: Write an adapter", () => {
  it("the sketch is a SandboxBackend and a registry provider", () => {
    expectTypeOf<AcmeSandbox>().toExtend<SandboxBackend>();
    expectTypeOf(AcmeSandbox.create).returns.resolves.toEqualTypeOf<AcmeSandbox>();
    expectTypeOf(acmeProvider).toExtend<SandboxProvider<any, any>>();
  });
});

describe("README: Registry", () => {
  it("one registry, an eager and a lazy provider, create with the common options", () => {
    const registry = createSandboxRegistry({ acme: acmeProvider, lazy: () => Promise.resolve(acmeProvider) }, { defaultProvider: "acme" });
    expectTypeOf(registry.create).parameter(0).toExtend<{ imageName?: string; provider?: string; providerOptions?: Record<string, unknown> } | undefined>();
    expectTypeOf(registry.create({ imageName: "python:3.12-slim" })).resolves.toExtend<SandboxBackend>();
  });
});

describe("README: Run the conformance suite against your adapter", () => {
  it("the test file's target type-checks and runConformanceSuite accepts it", () => {
    const target: ConformanceTarget<AcmeSandbox> = {
      name: "acme",
      create: (options) => AcmeSandbox.create(options),
      construct: (options) => new AcmeSandbox(options),
      fromId: (id) => AcmeSandbox.fromId(id),
      exists: (id) => acmeSandboxExists(id),
      baseOptions: { imageName: "alpine:3.21" },
    };
    expectTypeOf(runConformanceSuite<AcmeSandbox>).toBeCallableWith(target);
  });
});
