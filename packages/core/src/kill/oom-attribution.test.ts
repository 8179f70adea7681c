import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { shellArgvIn } from "../adapter/command-cwd.js";
import { OOM_BASELINE_PREFIX, OomBaselineReader, oomKilledDuring, parseOomKillCount } from "./oom-attribution.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function feed(chunks: string[]): { reader: OomBaselineReader; passed: string } {
  let passed = "";
  const reader = new OomBaselineReader((chunk) => (passed += decoder.decode(chunk)));
  for (const chunk of chunks) reader.push(encoder.encode(chunk));
  reader.end();
  return { reader, passed };
}

describe("OomBaselineReader", () => {
  it("takes the baseline line off the front and passes the rest through", () => {
    const { reader, passed } = feed(["\u0001sandbox-oom-baseline:3 41\nerr one\n", "err two\n"]);
    expect(reader.baseline).toBe(3);
    expect(reader.processGroup).toBe(41);
    expect(passed).toBe("err one\nerr two\n");
  });

  it("handles the line split across chunks, byte by byte", () => {
    const { reader, passed } = feed([..."\u0001sandbox-oom-baseline:12 7\nrest"]);
    expect(reader.baseline).toBe(12);
    expect(passed).toBe("rest");
  });

  it("an empty baseline (no readable counter) is undefined and still stripped", () => {
    const { reader, passed } = feed(["\u0001sandbox-oom-baseline: 9\n"]);
    expect(reader.baseline).toBeUndefined();
    expect(reader.processGroup).toBe(9);
    expect(passed).toBe("");
  });

  it("removes nothing from a stream that does not start with the tag", () => {
    const { reader, passed } = feed(["plain stderr\n\u0001sandbox-oom-baseline:1\n"]);
    expect(reader.baseline).toBeUndefined();
    expect(passed).toBe("plain stderr\n\u0001sandbox-oom-baseline:1\n");
  });
});

describe("OomBaselineReader and the cwd prefix", () => {
  it("takes a cwd-problem first line off and says why", () => {
    const { reader, passed } = feed([..."\u0001sandbox-cwd:not_a_directory\nrest"]);
    expect(reader.cwdProblem).toBe("not_a_directory");
    expect(reader.baseline).toBeUndefined();
    expect(passed).toBe("rest");
  });

  it("leaves an unknown tagged first line alone", () => {
    const { reader, passed } = feed(["\u0001sandbox-cwd:nonsense\n", "\u0001sandbox-other\n"]);
    expect(reader.cwdProblem).toBeUndefined();
    expect(passed).toBe("\u0001sandbox-cwd:nonsense\n\u0001sandbox-other\n");
  });

  it("through a real POSIX sh: enters the cwd, or names the problem and runs nothing", () => {
    const run = (cwd: string) => {
      const [shell, ...args] = shellArgvIn(`${OOM_BASELINE_PREFIX}pwd; echo "args=$#"`, cwd);
      const result = spawnSync(shell!, args);
      const { reader, passed } = feed([result.stderr.toString("utf8")]);
      return { status: result.status, stdout: result.stdout.toString("utf8"), problem: reader.cwdProblem, stderr: passed };
    };
    expect(run("/")).toEqual({ status: 0, stdout: "/\nargs=0\n", problem: undefined, stderr: "" });
    expect(run("/no/such/dir-for-the-cwd-test")).toEqual({ status: 126, stdout: "", problem: "not_found", stderr: "" });
    expect(run("/bin/sh")).toEqual({ status: 126, stdout: "", problem: "not_a_directory", stderr: "" });
  });
});

describe("OOM attribution", () => {
  it("parses v2 memory.events and v1 memory.oom_control", () => {
    expect(parseOomKillCount("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n")).toBe(2);
    expect(parseOomKillCount("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")).toBe(5);
    expect(parseOomKillCount("")).toBeUndefined();
  });

  it("is a delta around the command, never a guess", () => {
    expect(oomKilledDuring(1, 2)).toBe(true);
    expect(oomKilledDuring(1, 1)).toBe(false);
    expect(oomKilledDuring(undefined, 2)).toBe(false);
    expect(oomKilledDuring(0, undefined)).toBe(false);
  });

  it("the prefix prints a line on stderr through a POSIX sh, leaves no variable, keeps the exit status of the command", () => {
    const script = `${OOM_BASELINE_PREFIX}set | grep -c __sbx_ ; echo out; exit 7`;
    let stdout = "";
    let status = 0;
    try {
      stdout = execFileSync("sh", ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      status = (error as { status: number }).status;
      stdout = (error as { stdout: string }).stdout;
      const stderr = (error as { stderr: string }).stderr;
      expect(stderr.startsWith("\u0001"), "the baseline line starts with the tag's control byte").toBe(true);
      expect(stderr.slice(1)).toMatch(/^sandbox-oom-baseline:\d* [1-9]\d*\n$/);
    }
    expect(status).toBe(7);
    expect(stdout).toBe("0\nout\n");
  });
});
