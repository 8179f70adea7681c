/**
 * Keeps the combined output of one command in arrival order, up to a byte
 * limit. Past the limit further bytes are dropped as they arrive,
 * so memory stays bounded by `maxBytes` whatever the command prints.
 */
export class OutputCollector {
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  #truncated = false;

  constructor(readonly maxBytes: number) {}

  /** Adds a chunk; returns how many of its bytes were kept. */
  push(chunk: Uint8Array): number {
    const room = this.maxBytes - this.#kept;
    if (chunk.byteLength > room) this.#truncated = true;
    if (room <= 0) return 0;
    // Copy: providers may reuse their buffers after the callback returns.
    const kept = chunk.byteLength <= room ? chunk.slice() : chunk.slice(0, room);
    this.#chunks.push(kept);
    this.#kept += kept.byteLength;
    return kept.byteLength;
  }

  /** True once more bytes arrived than were kept. */
  get truncated(): boolean {
    return this.#truncated;
  }

  /**
   * The kept output as text; invalid UTF-8 becomes U+FFFD, never an
   * exception. A character the cap cut in two is left out (its first bytes
   * are not output the command printed broken).
   */
  text(): string {
    const joined = new Uint8Array(this.#kept);
    let offset = 0;
    for (const chunk of this.#chunks) {
      joined.set(chunk, offset);
      offset += chunk.byteLength;
    }
    // Streaming decode holds back an incomplete last character instead of printing U+FFFD for it.
    return new TextDecoder("utf-8", { fatal: false }).decode(joined, { stream: this.#truncated });
  }
}
