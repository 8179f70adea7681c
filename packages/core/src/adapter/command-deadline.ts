/** Why a command was stopped: its timeout passed, or the caller aborted it. */
export type CommandStopReason = "timeout" | "aborted";

/**
 * One command's stop switch: aborts {@link signal} when `timeoutMs` passes or
 * the caller's signal aborts, whichever comes first, and remembers which.
 * {@link dispose} clears the timer and the caller listener once the command
 * has settled.
 */
export class CommandDeadline {
  readonly #controller = new AbortController();
  readonly #callerSignal: AbortSignal | undefined;
  readonly #timer: ReturnType<typeof setTimeout>;
  #reason: CommandStopReason | undefined;
  readonly #onCallerAbort = () => this.#stop("aborted");

  constructor(
    readonly timeoutMs: number,
    callerSignal: AbortSignal | undefined,
  ) {
    this.#callerSignal = callerSignal;
    callerSignal?.addEventListener("abort", this.#onCallerAbort, { once: true });
    this.#timer = setTimeout(() => this.#stop("timeout"), timeoutMs);
  }

  /** Aborted once the command must stop; hand it to the adapter. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Why the command was stopped, or undefined while it may run. */
  get reason(): CommandStopReason | undefined {
    return this.#reason;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#callerSignal?.removeEventListener("abort", this.#onCallerAbort);
  }

  #stop(reason: CommandStopReason): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#controller.abort();
  }
}
