import { describe, expect, it } from "vitest";
import { CommandOutput } from "./command-output.js";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("CommandOutput", () => {
  it("collects both streams in arrival order and hands each callback its own text", () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const output = new CommandOutput(1024, { onStdout: (text) => stdout.push(text), onStderr: (text) => stderr.push(text) });
    output.onStdout(bytes("a"));
    output.onStderr(bytes("b"));
    output.onStdout(bytes("c"));
    output.finish();
    expect(output.text()).toBe("abc");
    expect(stdout).toEqual(["a", "c"]);
    expect(stderr).toEqual(["b"]);
  });

  it("holds back a character split across chunks until its rest arrives", () => {
    const seen: string[] = [];
    const output = new CommandOutput(1024, { onStdout: (text) => seen.push(text) });
    const euro = bytes("€");
    output.onStdout(euro.slice(0, 1));
    expect(seen).toEqual([]);
    output.onStdout(euro.slice(1));
    expect(seen).toEqual(["€"]);
  });

  it("gives an incomplete last character to the callback on finish as U+FFFD", () => {
    const seen: string[] = [];
    const output = new CommandOutput(1024, { onStdout: (text) => seen.push(text) });
    output.onStdout(bytes("€").slice(0, 2));
    output.finish();
    expect(seen).toEqual(["\uFFFD"]);
  });

  it("keeps collecting after a callback throws and rethrows the first error on finish", () => {
    const first = new Error("first");
    let calls = 0;
    const output = new CommandOutput(1024, {
      onStdout: () => {
        calls += 1;
        throw calls === 1 ? first : new Error("later");
      },
    });
    output.onStdout(bytes("one"));
    output.onStdout(bytes("two"));
    expect(output.text()).toBe("onetwo");
    expect(() => output.finish()).toThrow(first);
  });

  it("caps what it keeps and says so", () => {
    const output = new CommandOutput(3, {});
    output.onStdout(bytes("abcdef"));
    expect(output.text()).toBe("abc");
    expect(output.truncated).toBe(true);
  });
});
