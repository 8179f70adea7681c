import { sandboxErrorThrownBy } from "@sandbox/core/conformance";
import { describe, expect, it } from "vitest";
import { createLocalDockerSandboxFactoryFromSandbox } from "./factories.js";
import { LocalDockerSandboxError } from "./local-docker-error.js";
import { LocalDockerSandbox } from "./local-docker-sandbox.js";

describe("createLocalDockerSandboxFactoryFromSandbox", () => {
  it.each([
    ["null", null],
    ["undefined", undefined],
    ["an options object", { imageName: "alpine:3.21" }],
  ])("refuses %s with INVALID_ARGUMENT where the factory is made (it resolved it later)", (_label, value) => {
    const error = sandboxErrorThrownBy(() => createLocalDockerSandboxFactoryFromSandbox(value as never));
    expect(LocalDockerSandboxError.isInstance(error)).toBe(true);
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("needs a LocalDockerSandbox");
  });

  it("returns the same sandbox on every call", async () => {
    const sandbox = new LocalDockerSandbox({ appName: "factories-test" });
    const factory = createLocalDockerSandboxFactoryFromSandbox(sandbox);
    expect(await factory()).toBe(sandbox);
    expect(await factory()).toBe(sandbox);
  });
});
