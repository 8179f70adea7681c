import { describe, expect, it } from "vitest";
import { DockerStreamDemuxer } from "./demux-stream.js";

function frame(type: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe("DockerStreamDemuxer", () => {
  it("splits frames into stdout and stderr in arrival order", () => {
    const seen: string[] = [];
    const demuxer = new DockerStreamDemuxer(
      (chunk) => seen.push(`out:${chunk}`),
      (chunk) => seen.push(`err:${chunk}`),
    );
    demuxer.push(Buffer.concat([frame(1, "a"), frame(2, "b"), frame(1, "c")]));
    expect(seen).toEqual(["out:a", "err:b", "out:c"]);
  });

  it("reassembles frames split anywhere, including inside the header", () => {
    const whole = Buffer.concat([frame(1, "hello "), frame(2, "world"), frame(1, "!")]);
    for (let cut = 1; cut < whole.length; cut += 1) {
      const seen: string[] = [];
      const demuxer = new DockerStreamDemuxer(
        (chunk) => seen.push(`out:${chunk}`),
        (chunk) => seen.push(`err:${chunk}`),
      );
      demuxer.push(whole.subarray(0, cut));
      demuxer.push(whole.subarray(cut));
      const joined = (prefix: string) =>
        seen
          .filter((item) => item.startsWith(prefix))
          .map((item) => item.slice(4))
          .join("");
      expect(joined("err:")).toBe("world");
      // Arrival order across the two streams: all of "hello " before any of "world", all of it before "!".
      const order = seen.map((item) => item.slice(0, 4)).filter((kind, index, all) => index === 0 || kind !== all[index - 1]);
      expect(order).toEqual(["out:", "err:", "out:"]);
      expect(joined("out:")).toBe("hello !");
    }
  });

  it("hands a payload on as it arrives, without waiting for the rest of its frame, and copies nothing", () => {
    const whole = frame(1, "abcdefgh");
    const seen: Buffer[] = [];
    const demuxer = new DockerStreamDemuxer(
      (chunk) => seen.push(chunk),
      () => undefined,
    );
    const first = whole.subarray(0, 11);
    demuxer.push(first);
    expect(seen.map(String)).toEqual(["abc"]);
    // A view of the chunk pushed, not a copy.
    expect(seen[0]!.buffer).toBe(first.buffer);
    demuxer.push(whole.subarray(11));
    expect(seen.map(String)).toEqual(["abc", "defgh"]);
  });

  it("skips empty frames and reads a header split one byte at a time", () => {
    const whole = Buffer.concat([frame(2, ""), frame(1, "x"), frame(2, "y")]);
    const seen: string[] = [];
    const demuxer = new DockerStreamDemuxer(
      (chunk) => seen.push(`out:${chunk}`),
      (chunk) => seen.push(`err:${chunk}`),
    );
    for (let index = 0; index < whole.length; index += 1) demuxer.push(whole.subarray(index, index + 1));
    expect(seen).toEqual(["out:x", "err:y"]);
  });

  it("keeps binary payloads byte for byte", () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(bytes.length, 4);
    const received: Buffer[] = [];
    new DockerStreamDemuxer(
      (chunk) => received.push(Buffer.from(chunk)),
      () => undefined,
    ).push(Buffer.concat([header, bytes]));
    expect(Buffer.concat(received).equals(bytes)).toBe(true);
  });
});
