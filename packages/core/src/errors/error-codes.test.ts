import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isSandboxErrorCode, SANDBOX_ERROR_CODES, sandboxErrorCodes } from "./error-codes.js";

/** The ten codes of the documented Modal API (`@langchain/modal`), which we promise to keep. */
const SEED_CODES = [
  "NOT_INITIALIZED",
  "ALREADY_INITIALIZED",
  "AUTHENTICATION_FAILED",
  "SANDBOX_CREATION_FAILED",
  "SANDBOX_NOT_FOUND",
  "COMMAND_TIMEOUT",
  "COMMAND_FAILED",
  "FILE_OPERATION_FAILED",
  "RESOURCE_LIMIT_EXCEEDED",
  "VOLUME_ERROR",
] as const;

/** Codes the provider-agnostic contract needs on top of the seed API. */
const CONTRACT_CODES = ["INVALID_OPTIONS", "INVALID_ARGUMENT", "UNSUPPORTED_CAPABILITY", "SANDBOX_CLOSED", "UNKNOWN_PROVIDER"] as const;

describe("SANDBOX_ERROR_CODES", () => {
  it.each(SEED_CODES)("has the seed API code %s", (code) => {
    expect(SANDBOX_ERROR_CODES).toHaveProperty(code);
  });

  it.each(CONTRACT_CODES)("has the contract code %s", (code) => {
    expect(SANDBOX_ERROR_CODES).toHaveProperty(code);
  });

  it.each(sandboxErrorCodes)("%s has a non-empty message and a boolean retryable flag", (code) => {
    const entry = SANDBOX_ERROR_CODES[code];
    expect(typeof entry.message).toBe("string");
    expect(entry.message.trim().length).toBeGreaterThan(0);
    expect(typeof entry.retryable).toBe("boolean");
  });

  it("keeps the seed API's own descriptions where they are provider-neutral", () => {
    expect(SANDBOX_ERROR_CODES.NOT_INITIALIZED.message).toBe("Sandbox not initialized - call initialize()");
    expect(SANDBOX_ERROR_CODES.ALREADY_INITIALIZED.message).toBe("Cannot initialize twice");
    expect(SANDBOX_ERROR_CODES.COMMAND_TIMEOUT.message).toBe("Command execution timed out");
    expect(SANDBOX_ERROR_CODES.VOLUME_ERROR.message).toBe("Volume operation failed");
  });

  it("says a non-zero exit is not COMMAND_FAILED", () => {
    expect(SANDBOX_ERROR_CODES.COMMAND_FAILED.message).toMatch(/non-zero exit is not/);
  });

  it("marks transient failures retryable and caller mistakes not retryable", () => {
    expect(SANDBOX_ERROR_CODES.COMMAND_TIMEOUT.retryable).toBe(true);
    expect(SANDBOX_ERROR_CODES.PROVIDER_UNAVAILABLE.retryable).toBe(true);
    expect(SANDBOX_ERROR_CODES.SANDBOX_CREATION_FAILED.retryable).toBe(true);
    for (const code of [
      "INVALID_OPTIONS",
      "INVALID_ARGUMENT",
      "UNSUPPORTED_CAPABILITY",
      "AUTHENTICATION_FAILED",
      "NOT_INITIALIZED",
      "ALREADY_INITIALIZED",
      "SANDBOX_CLOSED",
      "UNKNOWN_PROVIDER",
    ] as const) {
      expect(SANDBOX_ERROR_CODES[code].retryable, code).toBe(false);
    }
  });
});

describe("sandboxErrorCodes / isSandboxErrorCode", () => {
  it("lists every code of the table, once, in declaration order", () => {
    expect(sandboxErrorCodes).toEqual(Object.keys(SANDBOX_ERROR_CODES));
    expect(new Set(sandboxErrorCodes).size).toBe(sandboxErrorCodes.length);
    expect(sandboxErrorCodes.slice(0, SEED_CODES.length)).toEqual([...SEED_CODES]);
  });

  it("recognises codes and rejects everything else", () => {
    for (const code of sandboxErrorCodes) expect(isSandboxErrorCode(code)).toBe(true);
    for (const value of ["", "command_timeout", "toString", "__proto__", "hasOwnProperty", 42, null, undefined, {}]) {
      expect(isSandboxErrorCode(value), String(value)).toBe(false);
    }
  });
});

describe("README error table", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

  it.each(sandboxErrorCodes)("documents %s with its retryable flag", (code) => {
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${code}\` |`));
    expect(row, `no row for ${code} in packages/core/README.md`).toBeDefined();
    expect(row!.trim().endsWith(SANDBOX_ERROR_CODES[code].retryable ? "| yes |" : "| no |")).toBe(true);
  });
});
