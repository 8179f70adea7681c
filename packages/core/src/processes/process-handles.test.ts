import { describe, expect, it } from "vitest";
import { SandboxError } from "../errors/sandbox-error.js";
import { listScriptProcesses, openScriptProcess, type ProcessScriptHost, type ScriptResult, startScriptProcess, stdinBytes } from "./process-handles.js";
import { KILL_SCRIPT, LIST_SCRIPT, SPAWN_SCRIPT, STDIN_WRITE_SCRIPT, WAIT_SCRIPT } from "./process-scripts.js";

const encoder = new TextEncoder();

/** A host whose scripts answer from `answers` (by script), recording each call; `alive` says whether the sandbox still runs. */
function scriptedHost(answers: Map<string, Partial<ScriptResult>>, alive = true) {
  const calls: Array<{ script: string; args: readonly string[]; options?: { input?: Uint8Array; env?: Record<string, string>; waits?: boolean } }> = [];
  let aliveChecks = 0;
  const host: ProcessScriptHost = {
    markerVariable: "TEST_MARKER",
    error: (code, options) => new SandboxError(code, { ...options, provider: "test" }),
    async runScript(script, args, options) {
      calls.push({ script, args, options });
      return { exitCode: 0, stdout: "", stderr: "", ...answers.get(script) };
    },
    async streamScript() {
      throw new Error("not used here");
    },
    async assertAlive() {
      aliveChecks += 1;
      if (!alive) throw new SandboxError("SANDBOX_NOT_FOUND", { provider: "test" });
    },
  };
  return { host, calls, aliveChecks: () => aliveChecks };
}

const listed = (id: string, command: string) => `${id} - - 0 0 0 0 ${Buffer.from(command).toString("base64")}\n`;

describe("script process handles", () => {
  it("spawns with the marker, retention and environment the supervisor expects", async () => {
    const { host, calls } = scriptedHost(new Map());
    const process = await startScriptProcess(host, { command: "sleep 1", cwd: "/work", env: { A: "1" }, timeoutMs: 1_500, pty: undefined }, 4096);
    const [spawn] = calls;
    expect(spawn?.script).toBe(SPAWN_SCRIPT);
    expect(spawn?.args.slice(0, 6)).toEqual([process.id, "sleep 1", "15", "4096", "/work", `TEST_MARKER=process-${process.id}`]);
    expect(spawn?.options?.env).toEqual({ A: "1" });
    expect(process.pty).toBe(false);
  });

  it("a failed spawn is COMMAND_FAILED with the script's stderr, or SANDBOX_NOT_FOUND once the sandbox is gone", async () => {
    const failing = new Map([[SPAWN_SCRIPT, { exitCode: 1, stderr: "no room\n" }]]);
    const request = { command: "true", cwd: undefined, env: {}, timeoutMs: undefined, pty: undefined };
    await expect(startScriptProcess(scriptedHost(failing).host, request, 1)).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      message: expect.stringContaining("could not start process: no room"),
    });
    await expect(startScriptProcess(scriptedHost(failing, false).host, request, 1)).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
  });

  it("opens a listed process and refuses an unknown id with INVALID_ARGUMENT (naming PTY ids)", async () => {
    const { host } = scriptedHost(new Map([[LIST_SCRIPT, { stdout: listed("p-1", "echo hi") }]]));
    expect(await listScriptProcesses(host)).toMatchObject([{ id: "p-1", command: "echo hi", running: true }]);
    expect((await openScriptProcess(host, "p-1", 0)).command).toBe("echo hi");
    await expect(openScriptProcess(host, "p-2", 0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT", details: { reason: "process-not-found" } });
    await expect(openScriptProcess(host, "t-1", 0)).rejects.toThrow(/PTY process cannot be reattached/);
  });

  it("stdin: bytes go to the write script; an ended process, a closed stdin and a non-byte value are refused", async () => {
    const answers = new Map<string, Partial<ScriptResult>>([[LIST_SCRIPT, { stdout: listed("p-1", "cat") }]]);
    const { host, calls } = scriptedHost(answers);
    const process = await openScriptProcess(host, "p-1", 0);
    await process.stdin.write("hé");
    expect(calls.at(-1)).toMatchObject({ script: STDIN_WRITE_SCRIPT, args: ["p-1"], options: { input: encoder.encode("hé") } });
    await expect(process.stdin.write(42 as unknown as string)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    answers.set(STDIN_WRITE_SCRIPT, { exitCode: 4 });
    await expect(process.stdin.write("x")).rejects.toMatchObject({ code: "COMMAND_FAILED", message: expect.stringContaining("has ended") });
    answers.set(STDIN_WRITE_SCRIPT, { exitCode: 5 });
    await expect(process.stdin.write("x")).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("closed with end()") });
  });

  it("wait() parses the exit line with no short timeout; kill() asks after the sandbox when the script could not run", async () => {
    const answers = new Map([
      [LIST_SCRIPT, { stdout: listed("p-1", "sleep 9") }],
      [WAIT_SCRIPT, { stdout: "143 killed\n" }],
      [KILL_SCRIPT, { exitCode: null }],
    ]);
    const { host, calls, aliveChecks } = scriptedHost(answers);
    const process = await openScriptProcess(host, "p-1", 0);
    expect(await process.wait()).toEqual({ exitCode: null, reason: "killed" });
    expect(calls.at(-1)?.options).toEqual({ waits: true });
    expect(await process.kill()).toEqual({ killConfirmed: false });
    expect(aliveChecks()).toBe(1);
    await expect(process.resize(80, 24)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("stdinBytes takes strings (as UTF-8) and Uint8Arrays only", () => {
    const error = (code: "INVALID_ARGUMENT", options: object) => new SandboxError(code, { ...options, provider: "test" });
    expect(stdinBytes("é", error)).toEqual(encoder.encode("é"));
    const bytes = new Uint8Array([1, 2]);
    expect(stdinBytes(bytes, error)).toBe(bytes);
    expect(() => stdinBytes(null, error)).toThrow(/takes a string or a Uint8Array/);
  });
});
