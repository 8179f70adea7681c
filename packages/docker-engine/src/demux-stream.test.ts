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
      expect(seen.join("|").replace(/\|out:/g, "").length).toBeGreaterThan(0);
      expect(seen.filter((item) => item.startsWith("err:")).join("")).toBe("err:world");
      expect(
        seen
          .filter((item) => item.startsWith("out:"))
          .map((item) => item.slice(4))
          .join(""),
      ).toBe("hello !");
    }
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
