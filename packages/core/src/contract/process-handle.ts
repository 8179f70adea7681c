/**
 * Background processes: `spawn()` on a {@link SandboxBackend}, a handle that
 * streams output and can be found again from another OS process.
 *
 * Needs the `processes` capability; `listProcesses()` / `attachProcess()`
 * need `processReattach`; a terminal (`pty`) needs `pty`. Calls a provider
 * lacks reject with `UNSUPPORTED_CAPABILITY` naming the provider and the call.
 */

/** Size of a pseudo-terminal, in character cells (whole numbers 1-1000). */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/**
 * Options of `spawn(command, options)`. Invalid values reject with
 * `INVALID_ARGUMENT` before anything runs.
 */
export interface SpawnOptions {
  /**
   * Absolute working directory. Default: the sandbox workdir. One that
   * cannot be entered rejects with `INVALID_ARGUMENT` naming it, as
   * `execute` does, and nothing starts (with `pty` too: there it is checked
   * by a command before the terminal starts).
   */
  cwd?: string;
  /** Extra environment variables (names: `[A-Za-z_][A-Za-z0-9_]*`). */
  env?: Record<string, string>;
  /**
   * Kill the process tree after this many milliseconds (positive whole
   * number, at most 24 hours). Default: none, the process runs until it
   * exits, is killed, or the sandbox ends. On expiry `wait()` resolves with
   * `reason: "timeout"`.
   */
  timeoutMs?: number;
  /**
   * Run under a pseudo-terminal of this size (needs the `pty` capability).
   * stdout then carries what the terminal produced (stdout and stderr
   * merged, with terminal line endings); `stderr` is empty; `stdin` is raw
   * terminal input. Default: no terminal.
   */
  pty?: TerminalSize;
}

/** Options of `attachProcess(id, options)`. */
export interface AttachProcessOptions {
  /**
   * Byte offset (whole number >= 0) from which both streams are replayed;
   * `0` = from the first byte the process wrote. Past what was written so
   * far, the stream waits for new output. Default 0.
   */
  fromOffset?: number;
}

/** Where a stream stands, as retained by the provider. Offsets are in bytes. */
export interface ProcessStreamState {
  /** First byte still retained (0 until something was dropped). */
  firstOffset: number;
  /** Bytes written so far (offset of the next byte). */
  endOffset: number;
}

/** A process as listed by `listProcesses()`. */
export interface ProcessInfo {
  /** The id `attachProcess` accepts. */
  id: string;
  /** The command as given to `spawn`. */
  command: string;
  /** True until it exited or was killed. */
  running: boolean;
  /** Exit code once it ended by itself; `null` while running or when killed. */
  exitCode: number | null;
  stdout: ProcessStreamState;
  stderr: ProcessStreamState;
}

/** How a process ended: what `wait()` resolves with. */
export interface ProcessExit {
  /** The exit code; `null` when the process was killed (by `kill()` or its timeout). */
  exitCode: number | null;
  /** `"exited"` by itself, `"killed"` by `kill()`, or `"timeout"` (its `timeoutMs` passed and the tree was killed). */
  reason: "exited" | "killed" | "timeout";
}

/** What `kill()` resolves with. */
export interface ProcessKillResult {
  /**
   * True when every process of the tree is confirmed gone (as `execute`'s
   * timeout kill). False when the provider could not make sure; something
   * may then run until the sandbox ends.
   */
  killConfirmed: boolean;
}

/**
 * One output stream of a process: an async iterable of raw bytes, exactly as
 * written. Each iteration starts a new read from the handle's offset (replay
 * of what is retained, then live output) and ends when the process has ended
 * and everything was delivered. Host memory stays bounded: chunks are pulled
 * as the consumer asks for them.
 *
 * A read never hangs when the sandbox dies: it throws a `SandboxError` with
 * code `SANDBOX_NOT_FOUND`.
 */
export interface ProcessOutputStream extends AsyncIterable<Uint8Array> {
  /** Which stream this is. */
  readonly name: "stdout" | "stderr";
  /**
   * Bytes the last iteration skipped because the provider no longer retained
   * them (between the requested offset and the first retained byte, and any
   * dropped while a slow reader lagged). 0 when nothing was lost.
   */
  readonly droppedBytes: number;
  /** The same bytes decoded as UTF-8; a character is never split across chunks; invalid bytes become U+FFFD. */
  text(): AsyncIterable<string>;
  /** The whole stream (until the process ends) decoded as UTF-8. Holds it all in memory: for small outputs. */
  readText(): Promise<string>;
}

/** A process's standard input. */
export interface ProcessInput {
  /** Writes bytes (strings as UTF-8); resolves once the provider accepted them. */
  write(data: string | Uint8Array): Promise<void>;
  /** Closes stdin: the process reads end-of-file. Idempotent. */
  end(): Promise<void>;
}

// Alike in shape to SandboxBackend (documented readonly facts, then async calls), as documented
// contract interfaces are: two interfaces with nothing to share, which stay apart.
/**
 * A background process in the sandbox. It outlives this handle (and the host
 * process): drop the handle without harm, and with `processReattach` find it
 * again by {@link id}.
 */
export interface SandboxProcess {
  /** Stable, unique in the sandbox; accepted by `attachProcess`. */
  readonly id: string;
  /** The command as given to `spawn`. */
  readonly command: string;
  /** True when it runs under a pseudo-terminal. */
  readonly pty: boolean;
  /**
   * What the process writes to stdout, from the handle's offset (0 for a
   * spawned process, `fromOffset` for an attached one). Under a terminal:
   * everything the terminal shows.
   */
  readonly stdout: ProcessOutputStream;
  /**
   * What the process writes to stderr, from the same offset. Empty under a
   * terminal (its output is merged into stdout).
   */
  readonly stderr: ProcessOutputStream;
  /**
   * The process's standard input; under a terminal, raw terminal input
   * (a `\x03` byte is Ctrl-C).
   */
  readonly stdin: ProcessInput;
  /**
   * Resolves when the process has ended. Never hangs on a dead sandbox:
   * rejects with `SANDBOX_NOT_FOUND`.
   */
  wait(): Promise<ProcessExit>;
  /**
   * Kills the whole process tree (children in other sessions or process
   * groups included) and resolves once confirmed. Killing an ended process
   * resolves `{ killConfirmed: true }`.
   */
  kill(): Promise<ProcessKillResult>;
  /**
   * Resizes the terminal. @throws `INVALID_ARGUMENT` for a process without a
   * terminal or a size outside 1-1000.
   */
  resize(cols: number, rows: number): Promise<void>;
}
