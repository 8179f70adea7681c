import { describe, expect, it } from "vitest";
import type { TokenAuthority } from "./auth-tokens.js";
import { createCommandRouterHandlers } from "./command-router-service.js";
import { createControlPlaneHandlers } from "./control-plane-service.js";
import type { EmulatorState } from "./emulator-state.js";
import { FILESYSTEM_TOOL_PATH, parseFilesystemToolArgv } from "./filesystem-tools.js";
import { loadModalSdkDefinitions } from "./modal-sdk-definitions.js";
import { mintObjectId, mintSandboxId } from "./object-ids.js";

// The handlers only touch these when called; building them needs none.
const state = {} as EmulatorState;
const tokens = {} as TokenAuthority;

describe("the pinned SDK's service definitions", () => {
  const definitions = loadModalSdkDefinitions();

  it("load from the modal@0.11.1 bundle with both services", () => {
    expect(definitions.sdkVersion).toBe("0.11.1");
    expect(definitions.controlPlane.fullName).toBe("modal.client.ModalClient");
    expect(definitions.commandRouter.fullName).toBe("modal.task_command_router.TaskCommandRouter");
    expect(Object.keys(definitions.controlPlane.methods).length).toBeGreaterThan(200);
  });

  it("name every method the emulator implements, with the right streaming shape", () => {
    // A handler under a name the definition lacks would never be served: catch renames here.
    const controlPlane = createControlPlaneHandlers({ state, tokens, routerUrl: () => "" });
    for (const name of Object.keys(controlPlane)) expect(definitions.controlPlane.methods, name).toHaveProperty(name);
    const router = createCommandRouterHandlers(state);
    for (const name of Object.keys(router)) expect(definitions.commandRouter.methods, name).toHaveProperty(name);
    expect(definitions.commandRouter.methods.taskExecStdinWriteStream?.requestStream).toBe(true);
    expect(definitions.commandRouter.methods.taskExecStdioRead?.responseStream).toBe(true);
    expect(definitions.controlPlane.methods.sandboxGetLogs?.responseStream).toBe(true);
  });

  it("encode exec env fields that a stale hand-written proto would drop", () => {
    const type = definitions.commandRouter.methods.taskExecStart!.requestType;
    const message = { taskId: "ta-1", execId: "e", commandArgs: ["env"], secretSources: [{ env: { contents: { A: "1" } } }], env: { B: "2" } };
    const decoded = type.decode(type.encode(type.fromPartial(message)).finish()) as typeof message;
    expect(decoded.secretSources[0]?.env?.contents).toEqual({ A: "1" });
    expect(decoded.env).toEqual({ B: "2" });
  });
});

describe("object ids", () => {
  it("mint V1 sandbox ids the SDK reads as V1 and V2 ids it reads as V2", () => {
    expect(mintSandboxId("v1")).toMatch(/^sb-[0-9A-Za-z]{22}$/);
    const v2 = mintSandboxId("v2");
    expect(v2).not.toMatch(/^sb-[0-9A-Za-z]{22}$/);
    expect(mintObjectId("app")).toMatch(/^ap-[0-9A-Za-z]{22}$/);
  });
});

describe("filesystem helper argv", () => {
  it("is recognised only for the helper path with one JSON argument", () => {
    expect(parseFilesystemToolArgv([FILESYSTEM_TOOL_PATH, '{"ReadFile":{"path":"/a"}}'])).toEqual({ ReadFile: { path: "/a" } });
    expect(parseFilesystemToolArgv([FILESYSTEM_TOOL_PATH, "not json"])).toBeUndefined();
    expect(parseFilesystemToolArgv(["/bin/cat", '{"ReadFile":{"path":"/a"}}'])).toBeUndefined();
    expect(parseFilesystemToolArgv([FILESYSTEM_TOOL_PATH])).toBeUndefined();
  });
});
