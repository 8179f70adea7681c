import { describe, expect, it } from "vitest";
import { OutputBuffer } from "./output-buffer.js";

async function collect(buffer: OutputBuffer, offset: number, maxChunkBytes = 1024): Promise<string> {
  const pieces: Buffer[] = [];
  for await (const piece of buffer.read(offset, maxChunkBytes)) pieces.push(piece);
  return Buffer.concat(pieces).toString("utf8");
}

describe("OutputBuffer", () => {
  it("replays from any offset after it is closed", async () => {
    const buffer = new OutputBuffer();
    buffer.append(Buffer.from("hello "));
    buffer.append(Buffer.from("world"));
    buffer.close();
    expect(await collect(buffer, 0)).toBe("hello world");
    expect(await collect(buffer, 3)).toBe("lo world");
    expect(await collect(buffer, 6)).toBe("world");
    expect(await collect(buffer, 11)).toBe("");
    expect(await collect(buffer, 99)).toBe("");
  });

  it("splits reads at the chunk limit and across appended chunks", async () => {
    const buffer = new OutputBuffer();
    for (const part of ["ab", "cde", "f", "ghij"]) buffer.append(Buffer.from(part));
    buffer.close();
    const pieces: string[] = [];
    for await (const piece of buffer.read(1, 3)) pieces.push(piece.toString());
    expect(pieces).toEqual(["bcd", "efg", "hij"]);
  });

  it("waits for data until closed, and ignores appends after close", async () => {
    const buffer = new OutputBuffer();
    const reading = collect(buffer, 0);
    buffer.append(Buffer.from("late"));
    setTimeout(() => {
      buffer.append(Buffer.from(" data"));
      buffer.close();
      buffer.append(Buffer.from(" ignored"));
    }, 10);
    expect(await reading).toBe("late data");
    expect(buffer.length).toBe(9);
  });

  it("stops a waiting reader when its signal aborts", async () => {
    const buffer = new OutputBuffer();
    const controller = new AbortController();
    const pieces: Buffer[] = [];
    const reading = (async () => {
      for await (const piece of buffer.read(0, 10, controller.signal)) pieces.push(piece);
    })();
    buffer.append(Buffer.from("x"));
    await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await reading;
    expect(Buffer.concat(pieces).toString()).toBe("x");
  });

  it("keeps memory bounded for output that is read, and never drops unread bytes", async () => {
    const buffer = new OutputBuffer(10);
    for (let index = 0; index < 10; index++) buffer.append(Buffer.from("0123456789"));
    // Nothing read yet: everything is kept.
    expect(buffer.firstKeptOffset).toBe(0);
    buffer.close();
    // Once a reader has received everything, only the window behind its position stays.
    expect(await collect(buffer, 0)).toBe("0123456789".repeat(10));
    expect(buffer.firstKeptOffset).toBe(90);
    // A re-read from a dropped offset resumes at the first kept byte.
    expect(await collect(buffer, 5)).toBe("0123456789");
  });

  it("holds a producer back until its reader is within the read-ahead, so memory stays bounded", async () => {
    const buffer = new OutputBuffer(0);
    buffer.append(Buffer.alloc(10));
    let released = false;
    const producer = buffer.waitForReader(4).then(() => {
      released = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(released).toBe(false);
    expect(buffer.undeliveredBytes).toBe(10);
    const reader = buffer.read(0, 8);
    expect((await reader.next()).value?.length).toBe(8);
    await producer;
    expect(released).toBe(true);
    expect(buffer.undeliveredBytes).toBe(2);
    // With no replay window, delivered bytes are dropped: only the unread ones are held.
    expect(buffer.firstKeptOffset).toBe(0);
    buffer.close();
    await buffer.waitForReader(0);
  });
});
