import { cwdProblemIn, cwdProblemMessage } from "../adapter/command-cwd.js";
import type { ProcessRequest } from "../adapter/process-request.js";
import type { ProcessInfo, SandboxProcess } from "../contract/process-handle.js";
import type { SandboxErrorCode } from "../errors/error-codes.js";
import type { SandboxError, SandboxErrorOptions } from "../errors/sandbox-error.js";
import { KILL_BY_MARKER_SCRIPT } from "../kill/kill-by-marker.js";
import { createProcessOutputStream, type OutputReadContext } from "../output/process-output-stream.js";
import { newProcessId, parseProcessExit, parseProcessList, processMarker, takeDroppedNotes, timeoutTenths } from "./process-records.js";
import {
  KILL_SCRIPT,
  LIST_SCRIPT,
  NO_SUCH_PROCESS_EXIT,
  READ_SCRIPT,
  SPAWN_SCRIPT,
  STDIN_END_SCRIPT,
  STDIN_WRITE_SCRIPT,
  SUPERVISOR_SCRIPT,
  WAIT_SCRIPT,
} from "./process-scripts.js";

/** What a helper script left once it ended. */
export interface ScriptResult {
  /** Null when the provider reports none (the exec was killed). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** A helper script whose stdout is streamed (core's `READ_SCRIPT`). */
export interface ScriptStream {
  /** Its stdout, pulled at the consumer's pace (host memory stays bounded); throws the adapter's error when the call fails. */
  readonly stdout: AsyncIterable<Uint8Array>;
  /** Its exit code once stdout ended; throws the adapter's error when the call fails. */
  exitCode(): Promise<number | null>;
  /** Stops it inside the sandbox (the consumer stopped early). Never rejects. */
  stop(): Promise<void>;
}

/**
 * How an adapter runs core's process scripts (`process-scripts.ts`) in its
 * sandbox: everything else about a background process (ids, markers, the
 * handle, errors) is {@link startScriptProcess} and its siblings.
 */
export interface ProcessScriptHost {
  /** The variable the adapter's kill-by-marker looks for (the marker entry of a process tree). */
  readonly markerVariable: string;
  /** Builds the adapter's error. */
  error(code: SandboxErrorCode, options?: SandboxErrorOptions): SandboxError;
  /**
   * Runs `sh -c <script> sandbox-process <...args>` to completion and collects
   * its small output: `input` on its stdin (then end-of-file), `env` added to
   * its environment. `waits`: the script lasts as long as a process may
   * (no short timeout). Throws the adapter's error when the call itself fails.
   */
  runScript(script: string, args: readonly string[], options?: { input?: Uint8Array; env?: Record<string, string>; waits?: boolean }): Promise<ScriptResult>;
  /**
   * Starts `sh -c <script> sandbox-read <...args>` with its stdout streamed and
   * its stderr handed to `onStderr` as text; `what` names what is read, for
   * error messages.
   */
  streamScript(script: string, args: readonly string[], onStderr: (text: string) => void, what: string): Promise<ScriptStream>;
  /** Throws `SANDBOX_NOT_FOUND` when the sandbox is gone; asked before a failure is blamed on the call itself. */
  assertAlive(): Promise<void>;
}

/** What an adapter gives `SandboxAdapter.scriptProcesses`: its script host, how much output to keep, and its terminals. */
export interface ScriptProcesses {
  readonly host: ProcessScriptHost;
  /** Bytes of each stream kept in the sandbox for replay. */
  readonly retainedBytes: number;
  /** Starts a process with a terminal (`spawn(..., { pty })`), which the adapter runs its own way. */
  startTerminal(request: ProcessRequest): Promise<SandboxProcess>;
}

/** Starts a background process (no terminal) under core's supervisor; `retainedBytes` of each stream are kept for replay. */
export async function startScriptProcess(host: ProcessScriptHost, request: ProcessRequest, retainedBytes: number): Promise<SandboxProcess> {
  const id = newProcessId();
  const args = [
    id,
    request.command,
    timeoutTenths(request.timeoutMs),
    String(retainedBytes),
    request.cwd ?? "",
    markerOf(host, id),
    KILL_BY_MARKER_SCRIPT,
    SUPERVISOR_SCRIPT,
  ];
  const result = await host.runScript(SPAWN_SCRIPT, args, { env: request.env });
  const cwdProblem = result.exitCode === 126 && request.cwd !== undefined ? cwdProblemIn(result.stderr) : undefined;
  if (cwdProblem !== undefined && request.cwd !== undefined) {
    throw host.error("INVALID_ARGUMENT", {
      message: cwdProblemMessage(request.cwd, cwdProblem, "nothing was started"),
      details: { option: "cwd", cwd: request.cwd, reason: cwdProblem },
    });
  }
  if (result.exitCode !== 0) throw await failure(host, result, "could not start process");
  return processHandle(host, id, request.command, 0);
}

/** Every process started with `spawn` (no terminal) in the sandbox. */
export async function listScriptProcesses(host: ProcessScriptHost): Promise<ProcessInfo[]> {
  const result = await host.runScript(LIST_SCRIPT, []);
  if (result.exitCode !== 0) throw await failure(host, result, "could not list processes");
  return parseProcessList(result.stdout);
}

/** A handle on process `id` whose streams read from `fromOffset`. */
export async function openScriptProcess(host: ProcessScriptHost, id: string, fromOffset: number): Promise<SandboxProcess> {
  const found = (await listScriptProcesses(host)).find((process) => process.id === id);
  if (!found) throw notFound(host, id);
  return processHandle(host, id, found.command, fromOffset);
}

/**
 * The bytes of what `stdin.write()` was given. Throws `INVALID_ARGUMENT`
 * (built by `error`) for anything but a string or a `Uint8Array`.
 */
export function stdinBytes(data: unknown, error: (code: "INVALID_ARGUMENT", options: SandboxErrorOptions) => SandboxError): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  throw error("INVALID_ARGUMENT", { message: "stdin.write() takes a string or a Uint8Array" });
}

/** The marker entry every process of the tree of `id` inherits. */
function markerOf(host: ProcessScriptHost, id: string): string {
  return processMarker(host.markerVariable, id);
}

function notFound(host: ProcessScriptHost, id: string): SandboxError {
  const hint = id.startsWith("t-") ? " (a PTY process cannot be reattached: its terminal lives in the handle that spawned it)" : "";
  return host.error("INVALID_ARGUMENT", { message: `no process with id "${id}" in this sandbox${hint}`, details: { reason: "process-not-found", id } });
}

/** `COMMAND_FAILED` for a script that failed, unless the sandbox is gone (then `SANDBOX_NOT_FOUND`). */
async function failure(host: ProcessScriptHost, result: ScriptResult, message: string): Promise<SandboxError> {
  await host.assertAlive();
  return host.error("COMMAND_FAILED", { message: `${message}: ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
}

/** Runs `action`; when it throws, a sandbox that died meanwhile is `SANDBOX_NOT_FOUND` rather than the call's own error. */
async function unlessGone<T>(host: ProcessScriptHost, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    await host.assertAlive();
    throw error;
  }
}

function processHandle(host: ProcessScriptHost, id: string, command: string, fromOffset: number): SandboxProcess {
  let stdinClosed = false;
  const closedError = () => host.error("INVALID_ARGUMENT", { message: `the stdin of process "${id}" was closed with end()` });
  return {
    id,
    command,
    pty: false,
    stdout: createProcessOutputStream("stdout", (context) => readStream(host, id, "out", fromOffset, context)),
    stderr: createProcessOutputStream("stderr", (context) => readStream(host, id, "err", fromOffset, context)),
    stdin: {
      async write(data) {
        const bytes = stdinBytes(data, (code, options) => host.error(code, options));
        if (stdinClosed) throw closedError();
        if (bytes.byteLength === 0) return;
        const result = await host.runScript(STDIN_WRITE_SCRIPT, [id], { input: bytes });
        if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        if (result.exitCode === 4) throw host.error("COMMAND_FAILED", { message: `process "${id}" has ended; its stdin takes no more input` });
        if (result.exitCode === 5) throw closedError();
        if (result.exitCode !== 0) throw await failure(host, result, `could not write to the stdin of process "${id}"`);
      },
      async end() {
        if (stdinClosed) return;
        const result = await host.runScript(STDIN_END_SCRIPT, [id]);
        if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        stdinClosed = true;
      },
    },
    async wait() {
      const result = await unlessGone(host, () => host.runScript(WAIT_SCRIPT, [id], { waits: true }));
      if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
      const exit = result.exitCode === 0 ? parseProcessExit(result.stdout) : undefined;
      if (exit === undefined) throw await failure(host, result, `could not wait for process "${id}"`);
      return exit;
    },
    async kill() {
      const result = await unlessGone(host, () => host.runScript(KILL_SCRIPT, [id, markerOf(host, id)]));
      // No exit code, or 126 and up: the script itself could not run or was killed, as when the sandbox dies.
      if (result.exitCode === null || result.exitCode >= 126) await host.assertAlive();
      if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
      return { killConfirmed: result.exitCode === 0 };
    },
    async resize() {
      throw host.error("INVALID_ARGUMENT", { message: `process "${id}" has no terminal; spawn it with { pty: { cols, rows } } to resize` });
    },
  };
}

/**
 * Streams `stream` of process `id` from `fromOffset` through `READ_SCRIPT`,
 * reporting skipped bytes to `context`; a consumer that stops early gets the
 * reader stopped inside the sandbox.
 */
function readStream(host: ProcessScriptHost, id: string, stream: "out" | "err", fromOffset: number, context: OutputReadContext): AsyncIterable<Uint8Array> {
  const name = stream === "out" ? "stdout" : "stderr";
  return {
    async *[Symbol.asyncIterator]() {
      let notes = "";
      const onStderr = (text: string) => {
        notes = takeDroppedNotes(notes + text, (bytes) => context.dropped(bytes));
      };
      const reader = await host.streamScript(READ_SCRIPT, [id, stream, String(fromOffset)], onStderr, `the output of process "${id}"`);
      let finished = false;
      try {
        yield* unlessGoneEach(host, reader.stdout);
        finished = true;
        const exitCode = await unlessGone(host, () => reader.exitCode());
        if (exitCode === 0) return;
        if (exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        await host.assertAlive();
        throw host.error("COMMAND_FAILED", { message: `reading the ${name} of process "${id}" failed (exit ${String(exitCode)}): ${notes.trim()}` });
      } finally {
        if (!finished) await reader.stop();
      }
    },
  };
}

/** Yields what `source` yields; when it throws, a sandbox that died meanwhile is `SANDBOX_NOT_FOUND`. */
async function* unlessGoneEach(host: ProcessScriptHost, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* source;
  } catch (error) {
    await host.assertAlive();
    throw error;
  }
}
