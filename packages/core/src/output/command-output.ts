import { OutputCollector } from "./output-collector.js";

/** The caller's text callbacks of one `execute()`. */
export interface OutputCallbacks {
  onStdout?: ((chunk: string) => void) | undefined;
  onStderr?: ((chunk: string) => void) | undefined;
}

/**
 * The output side of one `execute()`. Every chunk goes to a capped
 * {@link OutputCollector} (the result's `output`); when the caller passed
 * `onStdout` / `onStderr`, the chunk is also decoded as UTF-8 (a character
 * split across chunks waits for its rest) and handed to the callback as text.
 *
 * A callback that throws must not break the command's bookkeeping: the first
 * such error is kept, and {@link finish} rethrows it once the command has
 * settled.
 */
export class CommandOutput {
  readonly #collector: OutputCollector;
  readonly #flushes: Array<() => void> = [];
  #callbackError: unknown;
  /** Byte sinks to hand the adapter. */
  readonly onStdout: (chunk: Uint8Array) => void;
  readonly onStderr: (chunk: Uint8Array) => void;

  constructor(maxBytes: number, callbacks: OutputCallbacks) {
    this.#collector = new OutputCollector(maxBytes);
    this.onStdout = this.#sink(callbacks.onStdout);
    this.onStderr = this.#sink(callbacks.onStderr);
  }

  /** The kept output as text. */
  text(): string {
    return this.#collector.text();
  }

  /** True once more bytes arrived than were kept. */
  get truncated(): boolean {
    return this.#collector.truncated;
  }

  /** Hands the decoders' last characters to the callbacks, then rethrows the first callback error. */
  finish(): void {
    for (const flush of this.#flushes) flush();
    if (this.#callbackError !== undefined) throw this.#callbackError;
  }

  #sink(callback: ((chunk: string) => void) | undefined): (chunk: Uint8Array) => void {
    if (!callback) return (chunk) => void this.#collector.push(chunk);
    const decoder = new TextDecoder("utf-8", { fatal: false });
    this.#flushes.push(() => this.#call(callback, decoder.decode()));
    return (chunk) => {
      this.#collector.push(chunk);
      this.#call(callback, decoder.decode(chunk, { stream: true }));
    };
  }

  #call(callback: (chunk: string) => void, text: string): void {
    if (text.length === 0) return;
    try {
      callback(text);
    } catch (error) {
      this.#callbackError ??= error;
    }
  }
}
