/**
 * Splits Docker's multiplexed attach stream (8-byte frame headers: stream
 * type, three zero bytes, big-endian payload length) into stdout and stderr
 * chunks, preserving arrival order across the two. Frames may be split
 * anywhere across network chunks.
 *
 * A payload is handed on as it arrives, as views of the network chunk (a
 * frame split across chunks comes out in pieces): nothing is gathered or
 * copied, only a header split across chunks is held (8 bytes). Frame
 * boundaries carry no meaning (they are the engine's reads of a pipe).
 */
export class DockerStreamDemuxer {
  readonly #header = Buffer.alloc(8);
  /** Bytes of the next header already seen. */
  #headerBytes = 0;
  /** Payload bytes of the current frame still to come, and which stream they belong to. */
  #left = 0;
  #stderr = false;

  constructor(
    private readonly onStdout: (chunk: Buffer) => void,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#left > 0) {
        const piece = chunk.subarray(at, at + this.#left);
        this.#left -= piece.length;
        at += piece.length;
        if (this.#stderr) this.onStderr(piece);
        else this.onStdout(piece);
        continue;
      }
      const taken = chunk.copy(this.#header, this.#headerBytes, at, at + 8 - this.#headerBytes);
      this.#headerBytes += taken;
      at += taken;
      if (this.#headerBytes < 8) return;
      this.#headerBytes = 0;
      this.#stderr = this.#header[0] === 2;
      this.#left = this.#header.readUInt32BE(4);
    }
  }
}
