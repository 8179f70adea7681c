import type { SandboxErrorOptions } from "../errors/sandbox-error.js";
import type { CommandOutput } from "../output/command-output.js";
import type { CommandStopReason } from "./command-deadline.js";
import type { CommandOutcome } from "./command-request.js";
import { KillNotConfirmed } from "./kill-grace.js";

/**
 * What a `COMMAND_TIMEOUT` for a stopped command carries: the output so far,
 * why it stopped, and whether the kill was confirmed. `cause` is how the run
 * rejected after the stop (undefined when it resolved with `outcome`).
 */
export function commandTimeoutErrorOptions(
  stop: { reason: CommandStopReason; timeoutMs: number },
  output: CommandOutput,
  cause: unknown,
  outcome?: CommandOutcome,
): SandboxErrorOptions {
  const { reason, timeoutMs } = stop;
  // A run that rejected after the abort, or never settled, or said so
  // itself, did not prove the command's processes are gone.
  const killConfirmed = cause === undefined && outcome?.killConfirmed !== false;
  return {
    message: reason === "timeout" ? `command timed out after ${timeoutMs} ms and was killed` : "command aborted by the caller and was killed",
    output: output.text(),
    truncated: output.truncated,
    cause: cause instanceof KillNotConfirmed ? undefined : cause,
    details: { reason, timeoutMs, killConfirmed, exitCode: outcome?.exitCode ?? null },
  };
}
