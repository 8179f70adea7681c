import type { Duplex } from "node:stream";
import type { EngineExec } from "@sandbox/docker-engine";
import { OutputBuffer } from "./output-buffer.js";

/** How an exec ended, in the router's terms: an exit code or a signal number. */
export interface ExecExitStatus {
  code?: number;
  signal?: number;
}

/** Where an exec's stdin bytes go. */
export interface StdinSink {
  write(chunk: Buffer): Promise<void>;
  end(): void;
}

/** Options for {@link ExecSession}. */
export interface ExecSessionOptions {
  execId: string;
  /** Keep stdout (`true`) or drop it, as `TASK_EXEC_STDOUT_CONFIG_DEVNULL` asks. */
  keepStdout: boolean;
  keepStderr: boolean;
  /** Kill the process after this long; `undefined` means no exec timeout (the SDK default). */
  timeoutMs?: number;
  /** Output logs to write into, when they must outlive or be shared with the session (the entrypoint's). */
  stdout?: OutputBuffer;
  stderr?: OutputBuffer;
  /**
   * Stop reading the process's output while this many bytes of stdout or
   * stderr wait unread by the client (default {@link OUTPUT_BACKPRESSURE_BYTES});
   * `Infinity` turns the backpressure off (the entrypoint, whose output
   * Modal keeps as logs whether or not anybody reads them).
   */
  backpressureBytes?: number;
}

/**
 * Unread output an exec may have waiting in the emulator before the emulator
 * stops reading the process's output stream (and resumes once the client has
 * read half of it). As on Modal, where the output goes through a pipe: a
 * process whose output nobody reads blocks on its next write, instead of the
 * server keeping everything it prints (`cat /dev/zero` would grow the
 * emulator by about a gigabyte a second).
 */
export const OUTPUT_BACKPRESSURE_BYTES = 8 * 1024 * 1024;

/** The signal number of SIGKILL, as the router reports a killed exec. */
export const SIGKILL = 9;
/** Shell exit codes: the command could not be executed, was not found, or was killed by SIGKILL (128 + 9). */
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_COMMAND_NOT_FOUND = 127;
export const EXIT_KILLED = 128 + SIGKILL;

/**
 * One exec inside a sandbox: its output logs (offset-addressed, readable after
 * exit), its stdin with offset bookkeeping, and its exit status.
 *
 * The process behind it is either an engine exec (a real process in the
 * container) or a host-side operation (the filesystem helper), attached with
 * {@link attachEngineExec} or {@link attachHostOperation}.
 */
export class ExecSession {
  readonly execId: string;
  readonly stdout: OutputBuffer;
  readonly stderr: OutputBuffer;
  readonly #keepStdout: boolean;
  readonly #keepStderr: boolean;
  readonly #timeoutMs: number | undefined;
  readonly #backpressureBytes: number;
  /** The engine's output stream while it is paused for backpressure, else `undefined`. */
  #pausedStream: Duplex | undefined;
  #engineStream: Duplex | undefined;
  /** Set once the exec is being killed or has finished: its output is drained, never paused again. */
  #draining = false;
  #stdinBytesWritten = 0;
  #stdinClosed = false;
  #stdinSink: StdinSink | undefined;
  #stdinQueue: Promise<void> = Promise.resolve();
  #status: ExecExitStatus | undefined;
  #timedOut = false;
  #timeoutTimer: NodeJS.Timeout | undefined;
  #kill: (() => Promise<void>) | undefined;
  readonly #finished: Promise<ExecExitStatus>;
  #resolveFinished!: (status: ExecExitStatus) => void;

  constructor(options: ExecSessionOptions) {
    this.execId = options.execId;
    this.stdout = options.stdout ?? new OutputBuffer();
    this.stderr = options.stderr ?? new OutputBuffer();
    this.#keepStdout = options.keepStdout;
    this.#keepStderr = options.keepStderr;
    this.#timeoutMs = options.timeoutMs;
    this.#backpressureBytes = options.backpressureBytes ?? OUTPUT_BACKPRESSURE_BYTES;
    this.#finished = new Promise((resolve) => {
      this.#resolveFinished = resolve;
    });
  }

  /** Resolves with the exit status once the process is gone and output is complete. */
  get finished(): Promise<ExecExitStatus> {
    return this.#finished;
  }

  /** The exit status, or `undefined` while running. */
  get status(): ExecExitStatus | undefined {
    return this.#status;
  }

  get stdinBytesWritten(): number {
    return this.#stdinBytesWritten;
  }

  get stdinClosed(): boolean {
    return this.#stdinClosed;
  }

  /** Appends process output, honouring the devnull configuration. */
  appendStdout(chunk: Buffer): void {
    if (!this.#keepStdout) return;
    this.stdout.append(chunk);
    this.#applyBackpressure();
  }

  appendStderr(chunk: Buffer): void {
    if (!this.#keepStderr) return;
    this.stderr.append(chunk);
    this.#applyBackpressure();
  }

  /** True while the process's output stream is paused because the client has not read enough of it. */
  get outputPaused(): boolean {
    return this.#pausedStream !== undefined;
  }

  /**
   * Pauses the engine stream while stdout or stderr has more than the cap
   * unread, and resumes it once both are down to half (or the exec ends).
   */
  #applyBackpressure(): void {
    const stream = this.#engineStream;
    if (!stream || this.#draining || this.#pausedStream) return;
    const low = this.#backpressureBytes / 2;
    if (this.stdout.undeliveredBytes <= this.#backpressureBytes && this.stderr.undeliveredBytes <= this.#backpressureBytes) return;
    this.#pausedStream = stream;
    stream.pause();
    void (async () => {
      while (!this.#draining && (this.stdout.undeliveredBytes > low || this.stderr.undeliveredBytes > low)) {
        await this.stdout.waitForReader(low);
        await this.stderr.waitForReader(low);
      }
      this.#resumeOutput();
    })();
  }

  #resumeOutput(): void {
    const stream = this.#pausedStream;
    this.#pausedStream = undefined;
    stream?.resume();
  }

  /** From now on the output is read to its end without pausing (a kill or the end must see the stream close). */
  #drainOutput(): void {
    this.#draining = true;
    this.#resumeOutput();
  }

  /** Wires a started engine exec to this session. */
  attachEngineExec(engineExec: EngineExec): void {
    const stdin = engineExec.stdin;
    this.#stdinSink = stdin
      ? {
          // Resolving on the write callback gives backpressure per chunk, and
          // a stream destroyed under us (the process exited) still calls it.
          write: (chunk) =>
            new Promise<void>((resolve) => {
              if (stdin.destroyed || stdin.writableEnded) return resolve();
              stdin.write(chunk, () => resolve());
            }),
          end: () => {
            if (!stdin.destroyed && !stdin.writableEnded) stdin.end();
          },
        }
      : undefined;
    this.#kill = () => {
      this.#drainOutput();
      return engineExec.kill();
    };
    if (Number.isFinite(this.#backpressureBytes)) this.#engineStream = engineExec.stream;
    this.#armTimeout();
    engineExec.done.then(
      ({ exitCode, killed }) => {
        if (this.#timedOut || killed || exitCode === null) this.finish({ signal: SIGKILL });
        else this.finish({ code: exitCode });
      },
      (error: unknown) => {
        this.appendStderr(Buffer.from(`modal-emulator: exec failed: ${String(error)}\n`));
        this.finish({ code: EXIT_CANNOT_EXECUTE });
      },
    );
  }

  /** Wires a host-side operation (no process in the container) to this session. */
  attachHostOperation(stdinSink: StdinSink | undefined, kill?: () => Promise<void>): void {
    this.#stdinSink = stdinSink;
    this.#kill = kill;
    this.#armTimeout();
  }

  /**
   * Writes stdin bytes that start at `offset` in the exec's stdin stream.
   *
   * Bytes before the number already written are dropped, so a client that
   * retries a write (or resumes a stream) never duplicates input.
   *
   * @throws Error with `code: "EXITED"` when the exec has finished, `"CLOSED"` after EOF.
   */
  writeStdin(offset: number, data: Buffer, eof: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#status) throw Object.assign(new Error(`exec ${this.execId} has already exited`), { code: "EXITED" });
      if (data.length > 0) {
        if (this.#stdinClosed) throw Object.assign(new Error(`stdin of exec ${this.execId} is closed`), { code: "CLOSED" });
        const skip = this.#stdinBytesWritten - offset;
        if (skip < 0) {
          throw Object.assign(new Error(`stdin write at offset ${offset} leaves a gap: ${this.#stdinBytesWritten} bytes written so far`), { code: "GAP" });
        }
        const fresh = skip > 0 ? data.subarray(Math.min(skip, data.length)) : data;
        if (fresh.length > 0) {
          this.#stdinBytesWritten += fresh.length;
          await this.#stdinSink?.write(fresh).catch(() => undefined);
        }
      }
      if (eof && !this.#stdinClosed) {
        this.#stdinClosed = true;
        this.#stdinSink?.end();
      }
    };
    // Writes are applied strictly in arrival order even when calls overlap.
    const next = this.#stdinQueue.then(run, run);
    this.#stdinQueue = next.catch(() => undefined);
    return next;
  }

  /** Kills the process (tree) behind the exec; resolves when the kill was delivered. */
  async kill(): Promise<void> {
    if (this.#status) return;
    await this.#kill?.();
  }

  /** Records the exit status and closes the output logs. Later calls are ignored. */
  finish(status: ExecExitStatus): void {
    if (this.#status) return;
    this.#status = status;
    this.#drainOutput();
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.stdout.close();
    this.stderr.close();
    this.#resolveFinished(status);
  }

  /**
   * Records the exit status while stdout keeps filling; the caller closes
   * `stdout` when its payload is complete. For host-side reads: the SDK waits
   * for the exit before it reads stdout, so reporting the exit first lets the
   * payload flow only as fast as the client takes it, instead of the emulator
   * holding a whole file in memory.
   */
  finishBeforeStdout(status: ExecExitStatus): void {
    if (this.#status) return;
    this.#status = status;
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.stderr.close();
    this.#resolveFinished(status);
  }

  #armTimeout(): void {
    // Node fires timers longer than 2^31-1 ms at once; such a timeout is "never" in practice.
    if (this.#timeoutMs === undefined || this.#timeoutMs <= 0 || this.#timeoutMs > 2 ** 31 - 1) return;
    this.#timeoutTimer = setTimeout(() => {
      this.#timedOut = true;
      void this.kill().catch((error: unknown) => {
        // The engine kills process trees with `sh` inside the container; an
        // image without one cannot be cleaned up. Say so, and still end the
        // exec for the client, whose deadline has passed.
        this.appendStderr(Buffer.from(`modal-emulator: could not kill the timed-out exec: ${String(error)}\n`));
        this.finish({ signal: SIGKILL });
      });
    }, this.#timeoutMs);
    this.#timeoutTimer.unref();
  }
}
