import { describe, expect, it } from "vitest";
import { SandboxError } from "../errors/sandbox-error.js";
import {
  allErrorText,
  assertSandboxError,
  DID_NOT_THROW,
  expectSandboxError,
  outcomeOf,
  sandboxErrorOf,
  sandboxErrorThrownBy,
} from "./expect-sandbox-error.js";

describe("outcomeOf", () => {
  it("treats a synchronous throw like a rejection and reports no throw", async () => {
    const error = new Error("sync");
    expect(
      await outcomeOf(() => {
        throw error;
      }),
    ).toBe(error);
    expect(await outcomeOf(async () => "fine")).toBe(DID_NOT_THROW);
  });
});

describe("assertSandboxError", () => {
  const good = new SandboxError("COMMAND_TIMEOUT", { provider: "example", message: "timed out" });

  it("accepts a well-formed error of the expected code and provider", async () => {
    expect(await expectSandboxError(() => Promise.reject(good), "COMMAND_TIMEOUT", "example", "running")).toBe(good);
  });

  it("explains what the adapter did instead", () => {
    expect(() => assertSandboxError(DID_NOT_THROW, "COMMAND_TIMEOUT", "example", "running")).toThrow(/running: .*did not throw/);
    expect(() => assertSandboxError(new Error("raw"), "COMMAND_TIMEOUT", "example", "running")).toThrow(/does not recognise: Error: raw/);
    expect(() => assertSandboxError(good, "SANDBOX_CLOSED", "example", "running")).toThrow(/threw code COMMAND_TIMEOUT/);
    expect(() => assertSandboxError(good, "COMMAND_TIMEOUT", "other", "running")).toThrow(/its provider is "example"/);
    const prefixed = new SandboxError("COMMAND_TIMEOUT", { provider: "example", message: "[example] timed out" });
    expect(() => assertSandboxError(prefixed, "COMMAND_TIMEOUT", "example", "running")).toThrow(/repeats the "\[example\]" prefix/);
    const hidden = new SandboxError("COMMAND_TIMEOUT", { provider: "example", message: "timed out" });
    hidden.toString = () => "timed out";
    expect(() => assertSandboxError(hidden, "COMMAND_TIMEOUT", "example", "running")).toThrow(/does not show the provider/);
  });
});

describe("allErrorText", () => {
  it("includes message, details, output and the cause chain", () => {
    const error = new SandboxError("SANDBOX_CREATION_FAILED", {
      provider: "example",
      message: "outer",
      output: "partial output",
      details: { hint: "in details" },
      cause: new Error("inner", { cause: new Error("innermost") }),
    });
    const text = allErrorText(error);
    for (const part of ["outer", "partial output", "in details", "inner", "innermost"]) expect(text).toContain(part);
  });
});

describe("sandboxErrorOf / sandboxErrorThrownBy", () => {
  const MARKER = Symbol.for("@sandbox/test/ProviderError");
  class ProviderError extends SandboxError {
    readonly [MARKER] = true as const;
    static override isInstance(error: unknown): error is ProviderError {
      return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
    }
  }

  it("return the SandboxError a call raised, sync or async", async () => {
    const error = new SandboxError("SANDBOX_CLOSED");
    expect(
      sandboxErrorThrownBy(() => {
        throw error;
      }),
    ).toBe(error);
    expect(await sandboxErrorOf(() => Promise.reject(error))).toBe(error);
    expect(
      await sandboxErrorOf(() => {
        throw error;
      }),
    ).toBe(error);
  });

  it("fail with what happened instead: no throw, a foreign error, another provider's class", async () => {
    expect(() => sandboxErrorThrownBy(() => 1)).toThrow(/expected a SandboxError, but it did not throw/);
    await expect(sandboxErrorOf(() => Promise.reject(new TypeError("boom")))).rejects.toThrow(/expected a SandboxError, got TypeError: boom/);
    await expect(sandboxErrorOf(() => Promise.reject(new SandboxError("SANDBOX_CLOSED")), ProviderError)).rejects.toThrow(/expected a ProviderError/);
    const own = new ProviderError("SANDBOX_CLOSED");
    expect(await sandboxErrorOf(() => Promise.reject(own), ProviderError)).toBe(own);
  });
});
