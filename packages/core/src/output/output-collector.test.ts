import { describe, expect, it } from "vitest";
import { OutputCollector } from "./output-collector.js";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

describe("OutputCollector", () => {
  it("keeps chunks in arrival order", () => {
    const collector = new OutputCollector(1024);
    for (const chunk of ["out1 ", "err1 ", "out2 ", "ü€😀"]) collector.push(bytes(chunk));
    expect(collector.text()).toBe("out1 err1 out2 ü€😀");
    expect(collector.truncated).toBe(false);
  });

  it("is empty and not truncated before anything arrives", () => {
    const collector = new OutputCollector(10);
    expect(collector.text()).toBe("");
    expect(collector.truncated).toBe(false);
  });

  it("keeps exactly maxBytes without flagging truncation, and flags the first byte over", () => {
    const collector = new OutputCollector(8);
    expect(collector.push(bytes("12345678"))).toBe(8);
    expect(collector.truncated).toBe(false);
    expect(collector.push(bytes("9"))).toBe(0);
    expect(collector.truncated).toBe(true);
    expect(collector.text()).toBe("12345678");
  });

  it("cuts the chunk that crosses the cap and drops later chunks", () => {
    const collector = new OutputCollector(5);
    expect(collector.push(bytes("abc"))).toBe(3);
    expect(collector.push(bytes("defgh"))).toBe(2);
    expect(collector.push(bytes("ijk"))).toBe(0);
    expect(collector.text()).toBe("abcde");
    expect(collector.truncated).toBe(true);
  });

  it("stays bounded when fed 20 MiB in 64 KiB chunks", () => {
    const cap = 1024 * 1024;
    const collector = new OutputCollector(cap);
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    for (let index = 0; index < 320; index += 1) collector.push(chunk);
    const text = collector.text();
    expect(text.length).toBe(cap);
    expect(collector.truncated).toBe(true);
  });

  it("an empty chunk at the cap is no truncation", () => {
    const collector = new OutputCollector(3);
    collector.push(bytes("abc"));
    expect(collector.push(new Uint8Array(0))).toBe(0);
    expect(collector.truncated).toBe(false);
  });

  it("copies chunks, so a provider reusing its buffer does not corrupt kept output", () => {
    const collector = new OutputCollector(100);
    const buffer = bytes("aaaa");
    collector.push(buffer);
    buffer.fill(0x62);
    collector.push(buffer);
    expect(collector.text()).toBe("aaaabbbb");
  });

  it("turns invalid UTF-8 into U+FFFD instead of throwing", () => {
    const collector = new OutputCollector(100);
    collector.push(new Uint8Array([0x6f, 0x6b, 0xff, 0xfe, 0x20]));
    collector.push(new Uint8Array([0xc3])); // a lone lead byte at the end
    expect(collector.text()).toBe("ok\uFFFD\uFFFD \uFFFD");
  });

  it("joins a multi-byte character split across chunks", () => {
    const collector = new OutputCollector(100);
    const euro = bytes("€"); // e2 82 ac
    collector.push(euro.subarray(0, 1));
    collector.push(euro.subarray(1));
    expect(collector.text()).toBe("€");
  });

  it("leaves out a multi-byte character the cap cut (no U+FFFD for it); a complete one at the cap stays", () => {
    const collector = new OutputCollector(4);
    collector.push(bytes("ab€"));
    expect(collector.text()).toBe("ab");
    expect(collector.truncated).toBe(true);
    const exact = new OutputCollector(5);
    exact.push(bytes("ab€x"));
    expect(exact.text()).toBe("ab€");
    const split = new OutputCollector(4);
    split.push(bytes("ééé"));
    expect(split.text()).toBe("éé");
    const cut = new OutputCollector(3);
    cut.push(bytes("ééé"));
    expect(cut.text()).toBe("é");
  });
});
