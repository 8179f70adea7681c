import { SandboxError, sandboxErrorCodes } from "@sandbox/core";
import { describe, expect, expectTypeOf, it } from "vitest";
import { ModalSandboxError, type ModalSandboxErrorCode } from "./modal-sandbox-error.js";

describe("ModalSandboxError: both constructors make the same kind of error", () => {
  it("new ModalSandboxError(code, options): this package's form", () => {
    const cause = new Error("grpc said no");
    const error = new ModalSandboxError("COMMAND_FAILED", { message: "could not run", cause, details: { step: 1 } });
    expect(error).toBeInstanceOf(ModalSandboxError);
    expect(error).toBeInstanceOf(SandboxError);
    expect(SandboxError.isInstance(error)).toBe(true);
    expect(error.code).toBe("COMMAND_FAILED");
    expect(error.message).toBe("could not run");
    expect(String(error)).toContain("[modal] could not run");
    expect(error.cause).toBe(cause);
    expect(error.provider).toBe("modal");
    expect(error.retryable).toBe(true);
    expect(error.details).toEqual({ step: 1 });
    expect(error.name).toBe("ModalSandboxError");
  });

  it("new ModalSandboxError(code) uses the code's default message", () => {
    expect(new ModalSandboxError("NOT_INITIALIZED").message).toBe("Sandbox not initialized - call initialize()");
  });

  it("new ModalSandboxError(message, code, cause?): the @langchain/modal form", () => {
    const cause = new Error("underlying");
    const error = new ModalSandboxError("Sandbox creation failed", "SANDBOX_CREATION_FAILED", cause);
    expect(error).toBeInstanceOf(ModalSandboxError);
    expect(error).toBeInstanceOf(SandboxError);
    expect(error.code).toBe("SANDBOX_CREATION_FAILED");
    expect(error.message).toBe("Sandbox creation failed");
    expect(String(error)).toContain("[modal] Sandbox creation failed");
    expect(error.cause).toBe(cause);
    expect(error.provider).toBe("modal");
    expect(error.retryable).toBe(true);
    const withoutCause = new ModalSandboxError("no tokens", "AUTHENTICATION_FAILED");
    expect(withoutCause.cause).toBeUndefined();
    expect(withoutCause.retryable).toBe(false);
  });

  it("a message that happens to equal a code is still a message in the three-argument form", () => {
    const error = new ModalSandboxError("VOLUME_ERROR", "COMMAND_TIMEOUT");
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.message).toBe("VOLUME_ERROR");
  });

  it.each([
    [() => new ModalSandboxError("something went wrong" as ModalSandboxErrorCode), "something went wrong"],
    [() => new ModalSandboxError("message", "NOT_A_CODE" as ModalSandboxErrorCode), "NOT_A_CODE"],
    [() => new ModalSandboxError("UNKNOWN_PROVIDER" as ModalSandboxErrorCode), "UNKNOWN_PROVIDER"],
  ])("an unknown code throws INVALID_ARGUMENT naming it (%#)", (make, named) => {
    let thrown: unknown;
    try {
      make();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ModalSandboxError);
    expect((thrown as ModalSandboxError).code).toBe("INVALID_ARGUMENT");
    expect((thrown as ModalSandboxError).message).toContain(named);
  });

  it("ModalSandboxErrorCode names every contract code but UNKNOWN_PROVIDER, and each constructs", () => {
    const codes = sandboxErrorCodes.filter((code) => code !== "UNKNOWN_PROVIDER") as ModalSandboxErrorCode[];
    for (const code of codes) {
      expect(new ModalSandboxError(code).code).toBe(code);
      expect(new ModalSandboxError("m", code).code).toBe(code);
    }
    expectTypeOf<ModalSandboxErrorCode>().toEqualTypeOf<
      | "NOT_INITIALIZED"
      | "ALREADY_INITIALIZED"
      | "AUTHENTICATION_FAILED"
      | "SANDBOX_CREATION_FAILED"
      | "SANDBOX_NOT_FOUND"
      | "COMMAND_TIMEOUT"
      | "COMMAND_FAILED"
      | "FILE_OPERATION_FAILED"
      | "RESOURCE_LIMIT_EXCEEDED"
      | "VOLUME_ERROR"
      | "INVALID_OPTIONS"
      | "INVALID_ARGUMENT"
      | "UNSUPPORTED_CAPABILITY"
      | "SANDBOX_CLOSED"
      | "PROVIDER_UNAVAILABLE"
    >();
    expectTypeOf<ModalSandboxError["code"]>().toEqualTypeOf<ModalSandboxErrorCode>();
  });
});
