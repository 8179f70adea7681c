import type { Duplex } from "node:stream";
import {
  createProcessOutputStream,
  EXEC_MARKER_VARIABLE,
  KILL_BY_MARKER_SCRIPT,
  KILL_SCRIPT,
  LIST_SCRIPT,
  NO_SUCH_PROCESS_EXIT,
  newProcessId,
  type OutputReadContext,
  type ProcessInfo,
  type ProcessRequest,
  parseProcessExit,
  parseProcessList,
  processMarker,
  READ_SCRIPT,
  type SandboxError,
  type SandboxErrorCode,
  type SandboxErrorOptions,
  type SandboxProcess,
  SPAWN_SCRIPT,
  STDIN_END_SCRIPT,
  STDIN_WRITE_SCRIPT,
  SUPERVISOR_SCRIPT,
  takeDroppedNotes,
  timeoutTenths,
  WAIT_SCRIPT,
} from "@sandbox/core";
import type { EngineContainer, EngineExec } from "@sandbox/docker-engine";
import { HIGH_WATER_BYTES, PacedChunks } from "./paced-chunks.js";

/** What the sandbox lends the process machinery. */
export interface ProcessHost {
  readonly container: EngineContainer;
  error(code: SandboxErrorCode, options?: SandboxErrorOptions): SandboxError;
  /** Maps an engine failure of a call (gone container -> `SANDBOX_NOT_FOUND`). */
  commandError(error: unknown): SandboxError;
}

/** The marker entry every process of the tree of `id` inherits. */
function markerOf(id: string): string {
  return processMarker(EXEC_MARKER_VARIABLE, id);
}

interface ScriptResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a helper script to completion and collects its (small) output. */
async function runScript(host: ProcessHost, script: string, args: string[], input?: Uint8Array, env?: Record<string, string>): Promise<ScriptResult> {
  let stdout = "";
  let stderr = "";
  let exec: EngineExec;
  try {
    exec = await host.container.exec(["sh", "-c", script, "sandbox-process", ...args], {
      stdin: input !== undefined,
      env,
      onStdout: (chunk) => (stdout += chunk.toString("utf8")),
      onStderr: (chunk) => (stderr += chunk.toString("utf8")),
    });
  } catch (error) {
    throw host.commandError(error);
  }
  if (input !== undefined && exec.stdin) {
    const stdin = exec.stdin;
    await new Promise<void>((resolve, reject) => {
      stdin.write(Buffer.from(input), (error) => (error ? reject(error) : resolve()));
    }).catch(() => undefined);
    // Half-close: the script's stdin reads end-of-file, its output still flows.
    (stdin as Duplex).end();
  }
  try {
    const { exitCode } = await exec.done;
    return { exitCode, stdout, stderr };
  } catch (error) {
    throw host.commandError(error);
  }
}

function notFound(host: ProcessHost, id: string): SandboxError {
  const hint = id.startsWith("t-") ? " (a PTY process cannot be reattached: its terminal lives in the handle that spawned it)" : "";
  return host.error("INVALID_ARGUMENT", { message: `no process with id "${id}" in this sandbox${hint}`, details: { reason: "process-not-found", id } });
}

/** Starts a background process (no terminal) under the supervisor. */
export async function startProcess(host: ProcessHost, request: ProcessRequest, retainedBytes: number): Promise<SandboxProcess> {
  const id = newProcessId();
  const tenths = timeoutTenths(request.timeoutMs);
  const result = await runScript(
    host,
    SPAWN_SCRIPT,
    [id, request.command, tenths, String(retainedBytes), request.cwd ?? "", markerOf(id), KILL_BY_MARKER_SCRIPT, SUPERVISOR_SCRIPT],
    undefined,
    request.env,
  );
  if (result.exitCode !== 0)
    throw host.error("COMMAND_FAILED", { message: `could not start process: ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
  return processHandle(host, id, request.command, 0);
}

/** A handle on process `id` whose streams read from `fromOffset`. */
export async function openProcess(host: ProcessHost, id: string, fromOffset: number): Promise<SandboxProcess> {
  const listed = await listProcesses(host);
  const found = listed.find((process) => process.id === id);
  if (!found) throw notFound(host, id);
  return processHandle(host, id, found.command, fromOffset);
}

/** Every process started with `spawn` (no terminal) in the sandbox. */
export async function listProcesses(host: ProcessHost): Promise<ProcessInfo[]> {
  const result = await runScript(host, LIST_SCRIPT, []);
  if (result.exitCode !== 0)
    throw host.error("COMMAND_FAILED", { message: `could not list processes: ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
  return parseProcessList(result.stdout);
}

function processHandle(host: ProcessHost, id: string, command: string, fromOffset: number): SandboxProcess {
  let stdinClosed = false;
  return {
    id,
    command,
    pty: false,
    stdout: createProcessOutputStream("stdout", (context) => readStream(host, id, "out", fromOffset, context)),
    stderr: createProcessOutputStream("stderr", (context) => readStream(host, id, "err", fromOffset, context)),
    stdin: {
      async write(data) {
        if (typeof data !== "string" && !(data instanceof Uint8Array))
          throw host.error("INVALID_ARGUMENT", { message: "stdin.write() takes a string or a Uint8Array" });
        if (stdinClosed) throw host.error("INVALID_ARGUMENT", { message: `the stdin of process "${id}" was closed with end()` });
        const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
        if (bytes.byteLength === 0) return;
        const result = await runScript(host, STDIN_WRITE_SCRIPT, [id], bytes);
        if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        if (result.exitCode === 4) throw host.error("COMMAND_FAILED", { message: `process "${id}" has ended; its stdin takes no more input` });
        if (result.exitCode === 5) throw host.error("INVALID_ARGUMENT", { message: `the stdin of process "${id}" was closed with end()` });
        if (result.exitCode !== 0)
          throw host.error("COMMAND_FAILED", {
            message: `could not write to the stdin of process "${id}": ${result.stderr.trim() || `exit ${String(result.exitCode)}`}`,
          });
      },
      async end() {
        if (stdinClosed) return;
        const result = await runScript(host, STDIN_END_SCRIPT, [id]);
        if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        stdinClosed = true;
      },
    },
    async wait() {
      const result = await runUntilEnd(host, WAIT_SCRIPT, [id]);
      if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
      const exit = result.exitCode === 0 ? parseProcessExit(result.stdout) : undefined;
      if (exit === undefined) {
        await assertAlive(host);
        throw host.error("COMMAND_FAILED", { message: `could not wait for process "${id}": ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
      }
      return exit;
    },
    async kill() {
      const result = await runUntilEnd(host, KILL_SCRIPT, [id, markerOf(id)]);
      if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
      return { killConfirmed: result.exitCode === 0 };
    },
    async resize() {
      throw host.error("INVALID_ARGUMENT", { message: `process "${id}" has no terminal; spawn it with { pty: { cols, rows } } to resize` });
    },
  };
}

/** Like {@link runScript}, but a sandbox that died meanwhile is `SANDBOX_NOT_FOUND`, never a hang. */
async function runUntilEnd(host: ProcessHost, script: string, args: string[]): Promise<ScriptResult> {
  const result = await runScript(host, script, args);
  if (result.exitCode === null || result.exitCode >= 126) await assertAlive(host);
  return result;
}

/** How long a failed call keeps asking whether the container is stopping before blaming the call itself. */
const STOPPING_GRACE_MS = 2_000;

/**
 * Throws `SANDBOX_NOT_FOUND` when the container is gone. A container killed
 * from outside fails its execs (exit 126) a moment before the engine reports
 * it stopped, so the engine is asked again for a short while first.
 */
async function assertAlive(host: ProcessHost): Promise<void> {
  const deadline = Date.now() + STOPPING_GRACE_MS;
  for (;;) {
    const running = await host.container.isRunning().catch(() => false);
    if (!running) throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Streams `stream` of process `id` from `fromOffset`: an exec running
 * {@link READ_SCRIPT}, its connection paused while the consumer lags (host
 * memory stays at about {@link HIGH_WATER_BYTES}), killed in the sandbox when
 * the consumer stops early.
 */
function readStream(host: ProcessHost, id: string, stream: "out" | "err", fromOffset: number, context: OutputReadContext): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      const output = new PacedChunks();
      let notes = "";
      const onStderr = (chunk: Buffer) => {
        notes = takeDroppedNotes(notes + chunk.toString("utf8"), (bytes) => context.dropped(bytes));
      };
      let exec: EngineExec;
      try {
        exec = await host.container.exec(["sh", "-c", READ_SCRIPT, "sandbox-read", id, stream, String(fromOffset)], {
          onStdout: (chunk) => output.push(chunk),
          onStderr,
        });
      } catch (error) {
        throw host.commandError(error);
      }
      output.connection = exec.stream;
      let outcome: { exitCode: number | null } | undefined;
      let failure: unknown;
      exec.done.then(
        (result) => {
          outcome = result;
          output.wake();
        },
        (error: unknown) => {
          failure = error ?? new Error("read failed");
          output.wake();
        },
      );
      let finished = false;
      try {
        yield* output.drain(() => outcome !== undefined || failure !== undefined);
        finished = true;
        if (failure !== undefined) {
          await assertAlive(host);
          throw host.commandError(failure);
        }
        const exitCode = outcome!.exitCode;
        if (exitCode === 0) return;
        if (exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        await assertAlive(host);
        throw host.error("COMMAND_FAILED", {
          message: `reading the ${stream === "out" ? "stdout" : "stderr"} of process "${id}" failed (exit ${String(exitCode)}): ${notes.trim()}`,
        });
      } finally {
        if (!finished) await exec.kill().catch(() => undefined);
      }
    },
  };
}
