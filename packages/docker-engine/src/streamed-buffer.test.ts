import { describe, expect, it } from "vitest";
import { StreamedBuffer } from "./streamed-buffer.js";

/** `bytes` of a pattern no prefault (random bytes) leaves by chance. */
function pattern(bytes: number): Uint8Array {
  return new Uint8Array(bytes).map((_, index) => (index * 7 + (index >> 12)) % 251);
}

/** Pieces of `content` of the given sizes, in turn, until it is all cut. */
function cut(content: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = 0, turn = 0; at < content.byteLength; turn += 1) {
    const size = sizes[turn % sizes.length]!;
    pieces.push(content.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

const MiB = 1024 * 1024;

describe("StreamedBuffer", () => {
  it("holds every piece in order when they all arrive while the first slices are being prefaulted", async () => {
    const content = pattern(9 * MiB + 123);
    const target = new StreamedBuffer(content.byteLength);
    for (const piece of cut(content, [65_536, 1, 300_000, 7])) target.write(piece);
    const result = await target.finish();
    expect(result.byteLength).toBe(content.byteLength);
    expect(Buffer.from(result).equals(Buffer.from(content))).toBe(true);
  });

  it("holds every piece in order when they arrive spread over the prefaulting", async () => {
    const content = pattern(12 * MiB + 5);
    const target = new StreamedBuffer(content.byteLength);
    let turn = 0;
    for (const piece of cut(content, [256 * 1024, 33_000])) {
      target.write(piece);
      // Let threadpool jobs end between some pieces, so writes land before, inside and after the slices in flight.
      if (turn++ % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const result = await target.finish();
    expect(Buffer.from(result).equals(Buffer.from(content))).toBe(true);
  });

  it("keeps a piece whose buffer the caller reuses right after writing it", async () => {
    const content = pattern(6 * MiB);
    const target = new StreamedBuffer(content.byteLength);
    const reused = new Uint8Array(64 * 1024);
    for (let at = 0; at < content.byteLength; at += reused.byteLength) {
      reused.set(content.subarray(at, at + reused.byteLength));
      target.write(reused.subarray(0, Math.min(reused.byteLength, content.byteLength - at)));
      reused.fill(0xee);
    }
    expect(Buffer.from(await target.finish()).equals(Buffer.from(content))).toBe(true);
  });

  it("counts bytes past its size without writing them, and a short stream leaves received below the size", async () => {
    const over = new StreamedBuffer(10);
    over.write(pattern(8));
    over.write(pattern(8));
    expect(over.received).toBe(16);
    expect([...(await over.finish())]).toEqual([...pattern(8), ...pattern(2)]);
    const short = new StreamedBuffer(3 * MiB);
    short.write(pattern(1000));
    await short.finish();
    expect(short.received).toBe(1000);
  });

  it("writes a small buffer's pieces as they come (no threadpool job to wait for)", async () => {
    const target = new StreamedBuffer(1024);
    target.write(pattern(1024));
    expect([...target.content]).toEqual([...pattern(1024)]);
    expect([...(await target.finish())]).toEqual([...pattern(1024)]);
  });

  it("answers an empty buffer, and the same promise however often finish is called", async () => {
    const empty = new StreamedBuffer(0);
    expect((await empty.finish()).byteLength).toBe(0);
    const target = new StreamedBuffer(5 * MiB);
    const first = target.finish();
    expect(target.finish()).toBe(first);
    expect((await first).byteLength).toBe(5 * MiB);
  });
});
