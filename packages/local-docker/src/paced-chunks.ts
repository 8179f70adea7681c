import type { Duplex } from "node:stream";

/** Bytes buffered on the host per reader before its connection is paused. */
export const HIGH_WATER_BYTES = 1_048_576;

/**
 * Chunks arriving on a Docker exec connection, handed to one consumer at the
 * consumer's pace: past {@link HIGH_WATER_BYTES} buffered the connection is
 * paused, and resumed once the consumer has taken it down to a quarter, so
 * host memory stays at about the high-water mark whatever the process writes.
 */
export class PacedChunks {
  /** The connection to pause and resume; chunks may arrive before it is known. */
  connection: Duplex | undefined;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #paused = false;
  #wake: (() => void) | undefined;

  /** Queues a chunk from the connection. */
  push(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (!this.#paused && this.#queued > HIGH_WATER_BYTES && this.connection) {
      this.#paused = true;
      this.connection.pause();
    }
    this.wake();
  }

  /** Wakes the consumer waiting in {@link drain} (new data, or the source ended). */
  wake(): void {
    this.#wake?.();
  }

  /** Yields every queued chunk in order, waiting for more until `ended()` says the source is done. */
  async *drain(ended: () => boolean): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk) {
        this.#queued -= chunk.length;
        if (this.#paused && this.#queued <= HIGH_WATER_BYTES / 4) {
          this.#paused = false;
          this.connection?.resume();
        }
        yield chunk;
        continue;
      }
      if (ended()) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
