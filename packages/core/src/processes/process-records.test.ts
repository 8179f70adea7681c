import { describe, expect, it } from "vitest";
import { newProcessId, parseProcessExit, parseProcessList, processMarker, takeDroppedNotes, timeoutTenths } from "./process-records.js";

describe("process records", () => {
  it("parses LIST_SCRIPT lines: running, exited and killed processes; skips malformed lines", () => {
    const command = Buffer.from("echo 'hi ✓'").toString("base64");
    const output = [`p-1 - - 0 12 0 0 ${command}`, `p-2 0 exited 0 5 1 9 ${command}`, `p-3 137 killed 1048576 3145728 0 0 ${command}`, "garbage", ""].join(
      "\n",
    );
    expect(parseProcessList(output)).toEqual([
      { id: "p-1", command: "echo 'hi ✓'", running: true, exitCode: null, stdout: { firstOffset: 0, endOffset: 12 }, stderr: { firstOffset: 0, endOffset: 0 } },
      { id: "p-2", command: "echo 'hi ✓'", running: false, exitCode: 0, stdout: { firstOffset: 0, endOffset: 5 }, stderr: { firstOffset: 1, endOffset: 9 } },
      {
        id: "p-3",
        command: "echo 'hi ✓'",
        running: false,
        exitCode: null,
        stdout: { firstOffset: 1_048_576, endOffset: 3_145_728 },
        stderr: { firstOffset: 0, endOffset: 0 },
      },
    ]);
  });

  it("parses WAIT_SCRIPT's exit line", () => {
    expect(parseProcessExit("7 exited\n")).toEqual({ exitCode: 7, reason: "exited" });
    expect(parseProcessExit("143 killed")).toEqual({ exitCode: null, reason: "killed" });
    expect(parseProcessExit("137 timeout")).toEqual({ exitCode: null, reason: "timeout" });
    expect(parseProcessExit("")).toBeUndefined();
  });

  it("takes complete `dropped <n>` lines and keeps an unfinished rest", () => {
    const dropped: number[] = [];
    const rest = takeDroppedNotes("dropped 10\nnoise\ndropped 5\ndropp", (bytes) => dropped.push(bytes));
    expect(dropped).toEqual([10, 5]);
    expect(rest).toBe("dropp");
  });

  it("builds ids, markers and timeouts the scripts accept", () => {
    expect(newProcessId()).toMatch(/^p-[0-9a-z]+-[0-9a-f]{12}$/);
    expect(newProcessId()).not.toBe(newProcessId());
    expect(processMarker("SANDBOX_EXEC_MARKER", "p-1")).toBe("SANDBOX_EXEC_MARKER=process-p-1");
    expect(timeoutTenths(undefined)).toBe("");
    expect(timeoutTenths(1_501)).toBe("16");
  });
});
