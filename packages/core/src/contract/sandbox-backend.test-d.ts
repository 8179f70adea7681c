import type {
  AnyBackendProtocol,
  CreateDeepAgentParams,
  createDeepAgent,
  ExecuteResponse,
  FileDownloadResponse,
  FileUploadResponse,
  LangSmithSandbox,
  SandboxBackendProtocolV2,
} from "deepagents";
import { describe, expectTypeOf, it } from "vitest";
import type { CommandOutcome, CommandRequest } from "../adapter/command-request.js";
import { SandboxAdapter } from "../adapter/sandbox-adapter.js";
import type { SandboxCapabilities } from "./capabilities.js";
import type { ProcessExit, ProcessInfo, SandboxProcess } from "./process-handle.js";
import type { ExecuteOptions, ExecuteResult, SandboxBackend } from "./sandbox-backend.js";

/** The type of `createDeepAgent({ backend })`'s `backend`, read off the function itself. */
type CreateDeepAgentBackend = NonNullable<NonNullable<Parameters<typeof createDeepAgent>[0]>["backend"]>;

/** A concrete adapter: only the six primitives. */
class TypeOnlyAdapter extends SandboxAdapter {
  protected async provision(): Promise<string> {
    return "id";
  }
  protected async runCommand(_request: CommandRequest): Promise<CommandOutcome> {
    return { exitCode: 0 };
  }
  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    return files.map(([path]) => ({ path, error: null }));
  }
  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    return paths.map((path) => ({ path, content: null, error: "file_not_found" as const }));
  }
  protected async checkRunning(): Promise<boolean> {
    return true;
  }
  protected async release(_terminate: boolean): Promise<void> {}
}

describe("SandboxBackend is a deepagents backend", () => {
  it("is assignable to SandboxBackendProtocolV2", () => {
    expectTypeOf<SandboxBackend>().toExtend<SandboxBackendProtocolV2>();
  });

  it("is assignable to CreateDeepAgentParams['backend']", () => {
    expectTypeOf<SandboxBackend>().toExtend<NonNullable<CreateDeepAgentParams["backend"]>>();
    expectTypeOf<SandboxBackend>().toExtend<AnyBackendProtocol>();
  });

  it("is assignable to the backend parameter of createDeepAgent itself", () => {
    expectTypeOf<SandboxBackend>().toExtend<CreateDeepAgentBackend>();
  });

  it("has a non-optional, readonly string id and execute(command, options?)", () => {
    expectTypeOf<SandboxBackend["id"]>().toEqualTypeOf<string>();
    expectTypeOf<SandboxBackend["execute"]>().parameter(0).toEqualTypeOf<string>();
    expectTypeOf<SandboxBackend["execute"]>().parameter(1).toEqualTypeOf<ExecuteOptions | undefined>();
    expectTypeOf<SandboxBackend["execute"]>().returns.resolves.toEqualTypeOf<ExecuteResult>();
  });

  it("returns results deepagents understands, with a numeric exit code", () => {
    expectTypeOf<ExecuteResult>().toExtend<ExecuteResponse>();
    expectTypeOf<ExecuteResult["exitCode"]>().toEqualTypeOf<number>();
    expectTypeOf<ExecuteResult["truncated"]>().toEqualTypeOf<boolean>();
  });

  it("adds provider, capabilities and lifecycle", () => {
    expectTypeOf<SandboxBackend["provider"]>().toEqualTypeOf<string>();
    expectTypeOf<SandboxBackend["capabilities"]>().toEqualTypeOf<SandboxCapabilities>();
    expectTypeOf<SandboxBackend["initialize"]>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<SandboxBackend["close"]>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<SandboxBackend["isRunning"]>().toEqualTypeOf<boolean>();
    expectTypeOf<SandboxBackend["isAlive"]>().returns.toEqualTypeOf<Promise<boolean>>();
  });

  it("has background processes whose streams are async iterables of bytes, and port URLs", () => {
    expectTypeOf<SandboxBackend["spawn"]>().returns.toEqualTypeOf<Promise<SandboxProcess>>();
    expectTypeOf<SandboxBackend["attachProcess"]>().returns.toEqualTypeOf<Promise<SandboxProcess>>();
    expectTypeOf<SandboxBackend["listProcesses"]>().returns.toEqualTypeOf<Promise<ProcessInfo[]>>();
    expectTypeOf<SandboxProcess["stdout"]>().toExtend<AsyncIterable<Uint8Array>>();
    expectTypeOf<SandboxProcess["wait"]>().returns.toEqualTypeOf<Promise<ProcessExit>>();
    expectTypeOf<SandboxBackend["portUrl"]>().returns.toEqualTypeOf<Promise<string>>();
    // An adapter that implements none of it still satisfies the contract (the calls throw UNSUPPORTED_CAPABILITY).
    expectTypeOf<TypeOnlyAdapter>().toExtend<SandboxBackend>();
  });

  it("has the shape LangChain's sandbox tests and deepagents' own sandboxes expect of an instance", () => {
    // What code written for LangChain sandbox providers reads: `isRunning` is a
    // boolean, not a method (a method would always be truthy).
    interface LangChainSandboxInstance {
      readonly id: string;
      readonly isRunning: boolean;
      execute(command: string): Promise<{ output: string; exitCode: number | null; truncated: boolean }>;
      uploadFiles(files: Array<[string, Uint8Array]>): Promise<Array<{ path: string; error: unknown }>>;
      downloadFiles(paths: string[]): Promise<Array<{ path: string; content: Uint8Array | null; error: unknown }>>;
      initialize(): Promise<void>;
      close(): Promise<void>;
    }
    expectTypeOf<SandboxBackend>().toExtend<LangChainSandboxInstance>();
    expectTypeOf<TypeOnlyAdapter>().toExtend<LangChainSandboxInstance>();
    expectTypeOf<{ isRunning: () => Promise<boolean> }>().not.toExtend<Pick<LangChainSandboxInstance, "isRunning">>();
    expectTypeOf<Pick<LangSmithSandbox, "isRunning" | "id">>().toEqualTypeOf<Pick<SandboxBackend, "isRunning" | "id">>();
  });

  it("the check has teeth: a backend without execute is not a SandboxBackend", () => {
    expectTypeOf<Omit<SandboxBackend, "execute">>().not.toExtend<SandboxBackend>();
    expectTypeOf<Omit<SandboxBackend, "execute">>().not.toExtend<SandboxBackendProtocolV2>();
  });
});

describe("SandboxAdapter subclasses are SandboxBackends", () => {
  it("a concrete subclass is assignable to SandboxBackend and to deepagents' backend types", () => {
    expectTypeOf<TypeOnlyAdapter>().toExtend<SandboxBackend>();
    expectTypeOf<TypeOnlyAdapter>().toExtend<SandboxBackendProtocolV2>();
    expectTypeOf<TypeOnlyAdapter>().toExtend<CreateDeepAgentBackend>();
  });

  it("can be passed straight to createDeepAgent({ backend })", () => {
    type Params = NonNullable<Parameters<typeof createDeepAgent>[0]>;
    const sandbox = new TypeOnlyAdapter(undefined, { provider: "type-only", capabilities: {} as SandboxCapabilities });
    expectTypeOf({ backend: sandbox }).toExtend<Params>();
  });

  it("the primitives stay protected: not part of the public backend surface", () => {
    expectTypeOf<TypeOnlyAdapter>().not.toHaveProperty("runCommand");
    expectTypeOf<TypeOnlyAdapter>().not.toHaveProperty("provision");
    expectTypeOf<TypeOnlyAdapter>().not.toHaveProperty("release");
  });
});
