import { randomFill } from "node:crypto";

/** Bytes of a {@link StreamedBuffer} faulted in per threadpool job. */
const PREFAULT_SLICE_BYTES = 2 * 1024 * 1024;

/** Threadpool jobs prefaulting one buffer at a time (libuv has 4 threads by default). */
const PREFAULT_JOBS = 2;

/**
 * A buffer this small is written as its bytes come: its few faults cost
 * less than a threadpool job, which its first piece would wait for.
 */
const PREFAULT_MIN_BYTES = PREFAULT_SLICE_BYTES;

/**
 * One buffer of a known size, filled by pieces that arrive in order (a file
 * streamed from a container), whose fresh pages are faulted in off the event
 * loop.
 *
 * A first write to fresh memory costs a page fault per page: ~0.45 s for
 * 100 MiB on a small VM, about as long as the bytes take to arrive, and
 * paid on the event loop in the middle of the transfer. Here libuv
 * threadpool threads (two jobs at a time) write each slice ahead of the bytes first (with
 * `crypto.randomFill`: the one asynchronous Node API that writes a given
 * range of a buffer from user space on another thread; the kernel's writes,
 * a read of `/dev/zero` into it, leave the pages as slow to touch as
 * before), while the event loop writes what has arrived behind it. A piece
 * that arrives for the slice being prefaulted waits until that job has
 * ended (its bytes must not be overwritten), then is written.
 *
 * The buffer is an ordinary `Uint8Array` over an `ArrayBuffer` (not
 * shared): no other thread writes to it once {@link finish} has resolved.
 */
export class StreamedBuffer {
  readonly content: Uint8Array;
  /** Bytes handed to {@link write}, including any beyond the buffer's size. */
  received = 0;
  /** Where the next slice may start (nothing before it is prefaulted again). */
  #prefaultedTo = 0;
  /** The slices threadpool threads are writing now. */
  #prefaulting = new Set<{ start: number; end: number }>();
  #waiting: Array<{ at: number; piece: Uint8Array }> = [];
  #idle: (() => void) | undefined;
  /** Set by {@link finish}: from then on no slice is started. */
  #finished: Promise<Uint8Array> | undefined;

  constructor(size: number) {
    this.content = new Uint8Array(size);
    if (size <= PREFAULT_MIN_BYTES) return;
    for (let job = 0; job < PREFAULT_JOBS; job += 1) this.#prefaultNext();
  }

  /** Writes `piece` after the bytes before it (a copy: the caller may reuse it); bytes past the buffer's size are only counted. */
  write(piece: Uint8Array): void {
    const at = this.received;
    this.received += piece.byteLength;
    const fits = piece.subarray(0, Math.max(0, this.content.byteLength - at));
    if (fits.byteLength === 0) return;
    if (this.#busy(at, at + fits.byteLength)) this.#waiting.push({ at, piece: fits.slice() });
    else this.content.set(fits, at);
  }

  /** Stops the prefaulting; resolves, with the buffer, once no other thread writes to it and every piece is in it. */
  finish(): Promise<Uint8Array> {
    this.#finished ??=
      this.#prefaulting.size > 0
        ? new Promise((resolve) => {
            this.#idle = () => resolve(this.content);
          })
        : Promise.resolve(this.content);
    return this.#finished;
  }

  /** Whether a threadpool job is writing some of [start, end). */
  #busy(start: number, end: number): boolean {
    for (const slice of this.#prefaulting) if (start < slice.end && end > slice.start) return true;
    return false;
  }

  #prefaultNext(): void {
    const start = Math.max(this.#prefaultedTo, this.received);
    if (this.#finished !== undefined || start >= this.content.byteLength) return;
    const slice = { start, end: Math.min(this.content.byteLength, start + PREFAULT_SLICE_BYTES) };
    this.#prefaultedTo = slice.end;
    this.#prefaulting.add(slice);
    randomFill(this.content, slice.start, slice.end - slice.start, () => {
      this.#prefaulting.delete(slice);
      this.#waiting = this.#waiting.filter(({ at, piece }) => {
        if (this.#busy(at, at + piece.byteLength)) return true;
        this.content.set(piece, at);
        return false;
      });
      this.#prefaultNext();
      if (this.#prefaulting.size === 0) this.#idle?.();
    });
  }
}
