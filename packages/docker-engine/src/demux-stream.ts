/**
 * Splits Docker's multiplexed attach stream (8-byte frame headers: stream
 * type, three zero bytes, big-endian payload length) into stdout and stderr
 * chunks, preserving arrival order across the two. Frames may be split
 * anywhere across network chunks.
 */
export class DockerStreamDemuxer {
  #pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly onStdout: (chunk: Buffer) => void,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let buffer = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (buffer.length >= 8) {
      const type = buffer[0];
      const size = buffer.readUInt32BE(4);
      if (buffer.length < 8 + size) break;
      const payload = buffer.subarray(8, 8 + size);
      if (payload.length > 0) {
        if (type === 2) this.onStderr(payload);
        else this.onStdout(payload);
      }
      buffer = buffer.subarray(8 + size);
    }
    this.#pending = buffer.length === 0 ? Buffer.alloc(0) : Buffer.from(buffer);
  }
}
