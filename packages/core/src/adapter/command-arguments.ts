import { MAX_COMMAND_BYTES } from "../contract/defaults.js";
import type { SpawnOptions } from "../contract/process-handle.js";
import type { ExecuteOptions } from "../contract/sandbox-backend.js";
import { SandboxError } from "../errors/sandbox-error.js";
import { MAX_SANDBOX_TIMEOUT_MS } from "../options/sandbox-options.js";
import { isAbsoluteSandboxPath, shownAsPassed, validateEnv } from "../options/validate-options.js";

// Checks of the arguments of `execute()` and `spawn()`. Each throws a core
// `SandboxError` naming what was wrong; the adapter re-issues it as its own
// error class (and scrubs it of secrets).

/** The limits `execute()` runs under: the call's own, or the adapter's defaults. */
export interface ExecuteLimits {
  timeoutMs: number;
  maxOutputBytes: number;
}

/**
 * `execute()`'s second argument: undefined or an object. Checked before
 * anything reads a field of it (a `null` or a string would otherwise crash
 * or be ignored).
 * @throws `INVALID_ARGUMENT` naming what was passed.
 */
export function assertExecuteOptionsObject(options: unknown, provider: string): asserts options is ExecuteOptions | undefined {
  if (options === undefined || (typeof options === "object" && options !== null && !Array.isArray(options))) return;
  throw new SandboxError("INVALID_ARGUMENT", {
    provider,
    message: `execute options must be an object, got ${options === null ? "null" : Array.isArray(options) ? "an array" : typeof options}`,
    details: { option: "options" },
  });
}

/** @throws `INVALID_ARGUMENT` for a bad command, limit, env, cwd, abort signal or output callback. */
export function assertExecuteArguments(command: unknown, options: ExecuteOptions, limits: ExecuteLimits, provider: string): asserts command is string {
  assertCommandText(command, provider);
  assertCommandLength(command, provider);
  assertTimeoutMs(limits.timeoutMs, "timeoutMs", provider);
  assertPositiveInteger(limits.maxOutputBytes, "maxOutputBytes", provider, "INVALID_ARGUMENT");
  if (options.env !== undefined) validateEnv(options.env, { provider }, "env", "INVALID_ARGUMENT");
  assertCwd(options.cwd, provider);
  for (const name of ["onStdout", "onStderr"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new SandboxError("INVALID_ARGUMENT", { provider, message: `invalid option "${name}": must be a function`, details: { option: name } });
    }
  }
  if (options.signal !== undefined && !isAbortSignalLike(options.signal)) {
    throw new SandboxError("INVALID_ARGUMENT", { provider, message: 'invalid option "signal": must be an AbortSignal', details: { option: "signal" } });
  }
}

/** An `AbortSignal`, or one from another realm or polyfill: what `CommandDeadline` uses of it. */
function isAbortSignalLike(value: unknown): value is AbortSignal {
  if (typeof value !== "object" || value === null) return false;
  const signal = value as Partial<AbortSignal>;
  return typeof signal.aborted === "boolean" && typeof signal.addEventListener === "function" && typeof signal.removeEventListener === "function";
}

/** @throws `INVALID_ARGUMENT` for a bad command, options object, timeout, env or cwd (the pty size is checked by the adapter). */
export function assertSpawnArguments(command: unknown, options: unknown, provider: string): asserts options is SpawnOptions {
  assertCommandText(command, provider);
  if (options === null || typeof options !== "object") throw new SandboxError("INVALID_ARGUMENT", { provider, message: "spawn options must be an object" });
  const spawnOptions = options as SpawnOptions;
  if (spawnOptions.timeoutMs !== undefined) assertTimeoutMs(spawnOptions.timeoutMs, "timeoutMs", provider);
  if (spawnOptions.env !== undefined) validateEnv(spawnOptions.env, { provider }, "env", "INVALID_ARGUMENT");
  assertCwd(spawnOptions.cwd, provider);
}

/** @throws `code` unless `value` is a whole number above 0. */
export function assertPositiveInteger(value: unknown, option: string, provider: string, code: "INVALID_OPTIONS" | "INVALID_ARGUMENT"): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new SandboxError(code, {
      provider,
      message: `invalid option "${option}": must be a positive whole number, got ${shownAsPassed(value)}`,
      details: { option },
    });
  }
}

function assertCommandText(command: unknown, provider: string): asserts command is string {
  if (typeof command !== "string" || command.length === 0)
    throw new SandboxError("INVALID_ARGUMENT", { provider, message: "command must be a non-empty string" });
  if (command.includes("\0")) throw new SandboxError("INVALID_ARGUMENT", { provider, message: "command contains a NUL byte" });
}

function assertCommandLength(command: string, provider: string): void {
  // Every UTF-16 unit is at least one UTF-8 byte and at most three.
  const commandBytes = command.length * 3 <= MAX_COMMAND_BYTES ? command.length : new TextEncoder().encode(command).byteLength;
  if (commandBytes > MAX_COMMAND_BYTES) {
    throw new SandboxError("INVALID_ARGUMENT", {
      provider,
      message: `command is ${commandBytes} bytes, longer than the maximum of ${MAX_COMMAND_BYTES} bytes (MAX_COMMAND_BYTES, 60 KiB); upload a script with uploadFiles and run the file instead`,
      details: { option: "command", bytes: commandBytes, maxBytes: MAX_COMMAND_BYTES },
    });
  }
}

/** @throws `code` unless `value` is a whole number of milliseconds from 1 to {@link MAX_SANDBOX_TIMEOUT_MS}. */
export function assertTimeoutMs(value: unknown, option: string, provider: string, code: "INVALID_OPTIONS" | "INVALID_ARGUMENT" = "INVALID_ARGUMENT"): void {
  assertPositiveInteger(value, option, provider, code);
  if ((value as number) > MAX_SANDBOX_TIMEOUT_MS) {
    throw new SandboxError(code, {
      provider,
      message: `invalid option "${option}": must be at most ${MAX_SANDBOX_TIMEOUT_MS} (24 hours), got ${value}`,
      details: { option },
    });
  }
}

function assertCwd(cwd: unknown, provider: string): void {
  if (cwd !== undefined && !isAbsoluteSandboxPath(cwd)) {
    throw new SandboxError("INVALID_ARGUMENT", {
      provider,
      message: `invalid option "cwd": must be an absolute path without '..', got ${shownAsPassed(cwd)}`,
      details: { option: "cwd" },
    });
  }
}
