import { SandboxError } from "@sandbox/core";
import { describe, expect, it, vi } from "vitest";
import { ModalSandboxError } from "./modal-sandbox-error.js";

/** Another provider's error class, as an adapter package declares it (e.g. LocalDockerSandboxError). */
const OTHER_PROVIDER_MARKER = Symbol.for("@sandbox/other/OtherProviderSandboxError");
class OtherProviderSandboxError extends SandboxError {
  readonly [OTHER_PROVIDER_MARKER] = true as const;
}

describe("ModalSandboxError.isInstance", () => {
  it("is true for Modal errors and their subclasses", () => {
    class Subclass extends ModalSandboxError {}
    expect(ModalSandboxError.isInstance(new ModalSandboxError("COMMAND_FAILED"))).toBe(true);
    expect(ModalSandboxError.isInstance(new Subclass("COMMAND_FAILED"))).toBe(true);
  });

  it("is false for other providers' errors and core's own, which SandboxError.isInstance still claims", () => {
    const foreign = [new OtherProviderSandboxError("COMMAND_FAILED", { provider: "other" }), new SandboxError("INVALID_OPTIONS")];
    for (const error of foreign) {
      expect(ModalSandboxError.isInstance(error)).toBe(false);
      expect(SandboxError.isInstance(error)).toBe(true);
    }
    expect(SandboxError.isInstance(new ModalSandboxError("COMMAND_FAILED"))).toBe(true);
    for (const value of [new Error("x"), { code: "COMMAND_FAILED", provider: "modal" }, null, undefined]) {
      expect(ModalSandboxError.isInstance(value)).toBe(false);
    }
  });

  it("works across two copies of the module, where instanceof does not", async () => {
    vi.resetModules();
    const copy = (await import("./modal-sandbox-error.js")) as typeof import("./modal-sandbox-error.js");
    expect(copy.ModalSandboxError).not.toBe(ModalSandboxError);
    const fromCopy = new copy.ModalSandboxError("SANDBOX_NOT_FOUND");
    expect(fromCopy instanceof ModalSandboxError).toBe(false);
    expect(ModalSandboxError.isInstance(fromCopy)).toBe(true);
    expect(copy.ModalSandboxError.isInstance(new ModalSandboxError("SANDBOX_NOT_FOUND"))).toBe(true);
  });

  it("keeps the message raw and shows the provider where displayed", () => {
    const error = new ModalSandboxError("SANDBOX_NOT_FOUND", { message: "no sandbox sb-1" });
    expect(error.message).toBe("no sandbox sb-1");
    expect(String(error)).toBe("ModalSandboxError: [modal] no sandbox sb-1");
    expect(error.stack?.split("\n")[0]).toBe("ModalSandboxError: [modal] no sandbox sb-1");
  });
});
