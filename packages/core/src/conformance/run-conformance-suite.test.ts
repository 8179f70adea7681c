import { describe, expect, it } from "vitest";
import { conformanceShard } from "./run-conformance-suite.js";

describe("conformanceShard", () => {
  it("puts every group in exactly one shard, for any number of shards", () => {
    const whole = conformanceShard({ index: 1, count: 1 });
    expect(whole).toHaveLength(9);
    for (let count = 1; count <= whole.length + 1; count += 1) {
      const shards = Array.from({ length: count }, (_, index) => conformanceShard({ index: index + 1, count }));
      expect(shards.flat().sort(), `${count} shards`).toEqual([...whole].sort());
    }
  });

  it("balances two shards: the two longest groups (processes, files) land in different shards", () => {
    const [first, second] = [conformanceShard({ index: 1, count: 2 }), conformanceShard({ index: 2, count: 2 })];
    expect(first).toEqual(["execute", "errors", "processes", "abuse"]);
    expect(second).toEqual(["lifecycle", "files", "file operations", "options", "bad inputs"]);
  });

  it("refuses an index outside 1..count", () => {
    expect(() => conformanceShard({ index: 0, count: 2 })).toThrow(RangeError);
    expect(() => conformanceShard({ index: 3, count: 2 })).toThrow(RangeError);
    expect(() => conformanceShard({ index: 1, count: 0 })).toThrow(RangeError);
  });
});
