import { SandboxError } from "@sandbox/core";
import { EngineError, type EngineErrorKind } from "@sandbox/docker-engine";
import { describe, expect, it, vi } from "vitest";
import { fromEngineError, LocalDockerSandboxError } from "./local-docker-error.js";

describe("engine error mapping", () => {
  const cases: Array<[EngineErrorKind, string]> = [
    ["engine-unavailable", "PROVIDER_UNAVAILABLE"],
    ["image-unavailable", "SANDBOX_CREATION_FAILED"],
    ["not-found", "SANDBOX_NOT_FOUND"],
    ["resource-limit", "RESOURCE_LIMIT_EXCEEDED"],
    ["gpu-unavailable", "RESOURCE_LIMIT_EXCEEDED"],
    ["volume", "VOLUME_ERROR"],
    ["exec-failed", "COMMAND_FAILED"],
    ["unknown", "COMMAND_FAILED"],
  ];
  it.each(cases)("maps %s to %s, keeping the cause", (kind, code) => {
    const cause = new EngineError(kind, "engine said no");
    const error = fromEngineError(cause, "COMMAND_FAILED", "doing a thing");
    expect(error).toBeInstanceOf(LocalDockerSandboxError);
    expect(error).toBeInstanceOf(SandboxError);
    expect(SandboxError.isInstance(error)).toBe(true);
    expect(error.code).toBe(code);
    expect(error.provider).toBe("local-docker");
    expect(error.cause).toBe(cause);
    expect(error.message).toBe("doing a thing: engine said no");
    expect(String(error)).toBe("LocalDockerSandboxError: [local-docker] doing a thing: engine said no");
  });

  it("says how to start an engine when the socket refuses", () => {
    const error = fromEngineError(new Error("connect ECONNREFUSED /var/run/docker.sock"), "SANDBOX_CREATION_FAILED", "could not create");
    expect(error.code).toBe("PROVIDER_UNAVAILABLE");
    expect(error.message).toMatch(/start-docker-engine\.sh|DOCKER_HOST/);
  });

  it("passes SandboxErrors through untouched", () => {
    const original = new LocalDockerSandboxError("COMMAND_TIMEOUT");
    expect(fromEngineError(original, "COMMAND_FAILED", "x")).toBe(original);
  });
});

describe("LocalDockerSandboxError.isInstance", () => {
  /** Another provider's error class, as an adapter package declares it (e.g. ModalSandboxError). */
  const OTHER_PROVIDER_MARKER = Symbol.for("@sandbox/other/OtherProviderSandboxError");
  class OtherProviderSandboxError extends SandboxError {
    readonly [OTHER_PROVIDER_MARKER] = true as const;
  }

  it("is true only for local-docker errors and subclasses; SandboxError.isInstance is true for all", () => {
    class Subclass extends LocalDockerSandboxError {}
    expect(LocalDockerSandboxError.isInstance(new LocalDockerSandboxError("COMMAND_FAILED"))).toBe(true);
    expect(LocalDockerSandboxError.isInstance(new Subclass("COMMAND_FAILED"))).toBe(true);
    for (const error of [new OtherProviderSandboxError("COMMAND_FAILED", { provider: "other" }), new SandboxError("INVALID_OPTIONS")]) {
      expect(LocalDockerSandboxError.isInstance(error)).toBe(false);
      expect(SandboxError.isInstance(error)).toBe(true);
    }
    expect(LocalDockerSandboxError.isInstance(new Error("x"))).toBe(false);
  });

  it("works across two copies of the module, where instanceof does not", async () => {
    vi.resetModules();
    const copy = (await import("./local-docker-error.js")) as typeof import("./local-docker-error.js");
    expect(copy.LocalDockerSandboxError).not.toBe(LocalDockerSandboxError);
    const fromCopy = new copy.LocalDockerSandboxError("SANDBOX_NOT_FOUND");
    expect(fromCopy instanceof LocalDockerSandboxError).toBe(false);
    expect(LocalDockerSandboxError.isInstance(fromCopy)).toBe(true);
  });
});
