import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAX_SANDBOX_TIMEOUT_MS } from "../options/sandbox-options.js";
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_IMAGE_NAME,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_PROCESS_RETAINED_BYTES,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  KILL_CONFIRMATION_GRACE_MS,
  MAX_ENV_ENTRY_BYTES,
  MAX_ENV_TOTAL_BYTES,
} from "./defaults.js";

const documented: Array<[string, number | string]> = [
  ["DEFAULT_COMMAND_TIMEOUT_MS", DEFAULT_COMMAND_TIMEOUT_MS],
  ["DEFAULT_MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES],
  ["DEFAULT_SANDBOX_TIMEOUT_MS", DEFAULT_SANDBOX_TIMEOUT_MS],
  ["MAX_SANDBOX_TIMEOUT_MS", MAX_SANDBOX_TIMEOUT_MS],
  ["DEFAULT_IMAGE_NAME", DEFAULT_IMAGE_NAME],
  ["KILL_CONFIRMATION_GRACE_MS", KILL_CONFIRMATION_GRACE_MS],
  ["DEFAULT_PROCESS_RETAINED_BYTES", DEFAULT_PROCESS_RETAINED_BYTES],
  ["MAX_ENV_ENTRY_BYTES", MAX_ENV_ENTRY_BYTES],
  ["MAX_ENV_TOTAL_BYTES", MAX_ENV_TOTAL_BYTES],
];

describe("contract defaults", () => {
  it("has the documented values", () => {
    expect(DEFAULT_COMMAND_TIMEOUT_MS).toBe(5 * 60 * 1000);
    expect(DEFAULT_MAX_OUTPUT_BYTES).toBe(1024 * 1024);
    expect(DEFAULT_SANDBOX_TIMEOUT_MS).toBe(300_000);
    expect(DEFAULT_IMAGE_NAME).toBe("alpine:3.21");
    expect(MAX_SANDBOX_TIMEOUT_MS).toBe(24 * 60 * 60 * 1000);
  });

  it("every time limit is finite and positive: no command or sandbox runs forever by default", () => {
    for (const value of [DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_SANDBOX_TIMEOUT_MS, KILL_CONFIRMATION_GRACE_MS, DEFAULT_MAX_OUTPUT_BYTES]) {
      expect(Number.isSafeInteger(value)).toBe(true);
      expect(value).toBeGreaterThan(0);
    }
    expect(DEFAULT_SANDBOX_TIMEOUT_MS % 1000).toBe(0);
    expect(DEFAULT_SANDBOX_TIMEOUT_MS).toBeLessThanOrEqual(MAX_SANDBOX_TIMEOUT_MS);
    expect(KILL_CONFIRMATION_GRACE_MS).toBeLessThan(DEFAULT_COMMAND_TIMEOUT_MS);
  });

  it.each(documented)("the README documents %s with its value", (name, value) => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${name}\` |`));
    expect(row, `no row for ${name} in packages/core/README.md`).toBeDefined();
    expect(row).toContain(typeof value === "string" ? `"${value}"` : `\`${value}\``);
  });
});
