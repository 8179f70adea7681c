import { sandboxErrorThrownBy } from "@sandbox/core/conformance";
import { describe, expect, it } from "vitest";
import { createModalSandboxFactoryFromSandbox } from "./factories.js";
import { ModalSandbox } from "./modal-sandbox.js";
import { ModalSandboxError } from "./modal-sandbox-error.js";

describe("createModalSandboxFactoryFromSandbox", () => {
  it.each([
    ["null", null],
    ["undefined", undefined],
    ["an options object", { imageName: "alpine:3.21" }],
  ])("refuses %s with INVALID_ARGUMENT where the factory is made (it resolved it later)", (_label, value) => {
    const error = sandboxErrorThrownBy(() => createModalSandboxFactoryFromSandbox(value as never));
    expect(ModalSandboxError.isInstance(error)).toBe(true);
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("needs a ModalSandbox");
  });

  it("returns the same sandbox on every call", async () => {
    const sandbox = new ModalSandbox({ appName: "factories-test" });
    const factory = createModalSandboxFactoryFromSandbox(sandbox);
    expect(await factory()).toBe(sandbox);
    expect(await factory()).toBe(sandbox);
  });
});
