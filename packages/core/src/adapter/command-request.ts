import type { CwdProblem } from "./command-cwd.js";

/**
 * What core hands an adapter's `SandboxAdapter.runCommand`. The adapter
 * runs `command` through `sh -c` with empty stdin, feeds output to the two
 * callbacks as it arrives, and resolves with the exit code.
 */
export interface CommandRequest {
  command: string;
  /** Absolute working directory, or undefined for the sandbox default. */
  cwd: string | undefined;
  /** Per-command environment on top of the sandbox's. */
  env: Record<string, string>;
  /**
   * Aborted on timeout or caller abort. The adapter must then kill the
   * command's whole process tree inside the sandbox and resolve once it is
   * gone (with `killConfirmed: false` when it could not make sure); core
   * turns that into `COMMAND_TIMEOUT`. Rejecting after the abort is reported
   * as an unconfirmed kill.
   */
  signal: AbortSignal;
  /**
   * The effective timeout core enforces (ms). Core aborts `signal` when it
   * passes; adapters may also hand it to the provider as a backstop that holds
   * even if the host process dies.
   */
  timeoutMs: number;
  onStdout(chunk: Uint8Array): void;
  onStderr(chunk: Uint8Array): void;
}

/** What an adapter's `SandboxAdapter.runCommand` resolves with. */
export interface CommandOutcome {
  /** Exit code; `null` only when the process was killed and no code exists. */
  exitCode: number | null;
  /**
   * After an abort: `false` when the adapter could not confirm that every
   * process of the command is gone (core then reports
   * `details.killConfirmed: false`). Leave it out otherwise.
   */
  killConfirmed?: boolean;
  /**
   * The request's `cwd` could not be entered, so nothing of the command ran
   * (see `ENTER_CWD_PREFIX`); core rejects with `INVALID_ARGUMENT` naming
   * the cwd. Leave it out otherwise.
   */
  cwdProblem?: CwdProblem;
}
