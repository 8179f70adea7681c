/**
 * How many bytes behind the furthest point already delivered to a reader are
 * kept for re-reads. The SDK only re-reads after a broken stream, from the
 * last offset it received, so a window this size never loses data in
 * practice, while a command printing without end keeps bounded memory as long
 * as somebody reads it.
 */
export const DEFAULT_REPLAY_WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * An append-only byte log addressed by offset, readable any number of times,
 * during and after the writer's life.
 *
 * Why: the SDK reopens stdio streams after transient errors at
 * `offset = bytes already received`, and reads an exec's output after the exec
 * has exited (filesystem reads call `wait()` first). So output is kept, not
 * piped through once. Bytes no reader has received are never dropped; bytes
 * further than the replay window behind the furthest delivered offset are.
 */
export class OutputBuffer {
  readonly #chunks: Buffer[] = [];
  /** Start offset of each chunk, parallel to `#chunks`, for binary search. */
  readonly #chunkOffsets: number[] = [];
  readonly #replayWindowBytes: number;
  #length = 0;
  /** Offset of the first byte still kept. */
  #firstKeptOffset = 0;
  /** Furthest offset any reader has been given. */
  #deliveredOffset = 0;
  #closed = false;
  #waiters: Array<() => void> = [];

  readonly #onAppend: ((chunk: Buffer) => void) | undefined;

  /**
   * @param replayWindowBytes bytes kept behind the furthest delivered offset; default {@link DEFAULT_REPLAY_WINDOW_BYTES}.
   * @param onAppend sees every chunk appended (a sandbox's entrypoint log records them).
   */
  constructor(replayWindowBytes = DEFAULT_REPLAY_WINDOW_BYTES, onAppend?: (chunk: Buffer) => void) {
    this.#replayWindowBytes = replayWindowBytes;
    this.#onAppend = onAppend;
  }

  /** Total bytes appended so far. */
  get length(): number {
    return this.#length;
  }

  /** Offset of the first byte still kept (0 until the replay window drops some). */
  get firstKeptOffset(): number {
    return this.#firstKeptOffset;
  }

  /** True once {@link close} was called: no more bytes will come. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes appended that no reader has been given yet. */
  get undeliveredBytes(): number {
    return this.#length - this.#deliveredOffset;
  }

  /**
   * Resolves once at most `maxBytes` are undelivered, the buffer is closed,
   * or `signal` aborts: lets a producer go only as fast as its reader.
   */
  async waitForReader(maxBytes: number, signal?: AbortSignal): Promise<void> {
    while (!this.#closed && !signal?.aborted && this.undeliveredBytes > maxBytes) await this.#waitForChange(signal);
  }

  /** Appends bytes; ignored after close. */
  append(chunk: Buffer): void {
    if (this.#closed || chunk.length === 0) return;
    this.#chunkOffsets.push(this.#length);
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    this.#onAppend?.(chunk);
    this.#wake();
  }

  /** Marks the end of the data; readers drain what is left and finish. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
  }

  /**
   * Yields the bytes from `offset` on (or from the first kept byte, if the
   * replay window has dropped `offset`), in pieces of at most
   * `maxChunkBytes`, waiting for more until the buffer is closed or `signal`
   * aborts.
   */
  async *read(offset: number, maxChunkBytes: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let position = Math.max(0, offset);
    while (true) {
      if (signal?.aborted) return;
      position = Math.max(position, this.#firstKeptOffset);
      if (position < this.#length) {
        const piece = this.#slice(position, maxChunkBytes);
        position += piece.length;
        if (position > this.#deliveredOffset) {
          this.#deliveredOffset = position;
          this.#dropBehindWindow();
          // A producer may be waiting for the reader to catch up (waitForReader).
          this.#wake();
        }
        yield piece;
        continue;
      }
      if (this.#closed) return;
      await this.#waitForChange(signal);
    }
  }

  #slice(position: number, maxBytes: number): Buffer {
    let low = 0;
    let high = this.#chunkOffsets.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#chunkOffsets[middle]! <= position) low = middle;
      else high = middle - 1;
    }
    const pieces: Buffer[] = [];
    let collected = 0;
    for (let index = low; index < this.#chunks.length && collected < maxBytes; index++) {
      const chunk = this.#chunks[index]!;
      const start = index === low ? position - this.#chunkOffsets[index]! : 0;
      const piece = chunk.subarray(start, start + (maxBytes - collected));
      pieces.push(piece);
      collected += piece.length;
    }
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, collected);
  }

  #dropBehindWindow(): void {
    const keepFrom = this.#deliveredOffset - this.#replayWindowBytes;
    let drop = 0;
    while (drop < this.#chunks.length && this.#chunkOffsets[drop]! + this.#chunks[drop]!.length <= keepFrom) drop++;
    if (drop === 0) return;
    this.#chunks.splice(0, drop);
    this.#chunkOffsets.splice(0, drop);
    this.#firstKeptOffset = this.#chunkOffsets[0] ?? this.#length;
  }

  #waitForChange(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}
