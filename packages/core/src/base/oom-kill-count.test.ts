import { describe, expect, it } from "vitest";
import { parseOomKillCount } from "./oom-kill-count.js";

describe("parseOomKillCount", () => {
  it("reads cgroup v2 memory.events and v1 memory.oom_control", () => {
    expect(parseOomKillCount("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n")).toBe(2);
    expect(parseOomKillCount("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n")).toBe(7);
  });

  it("is undefined when no counter was printed", () => {
    expect(parseOomKillCount("")).toBeUndefined();
    expect(parseOomKillCount("oom_kill_disable 0\n")).toBeUndefined();
  });
});
