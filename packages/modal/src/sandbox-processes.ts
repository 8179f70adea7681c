import { randomUUID } from "node:crypto";
import {
  createProcessOutputStream,
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
import type { ContainerProcess, Sandbox } from "modal";
import { MODAL_EXEC_MARKER_VARIABLE } from "./sandbox-exec.js";

/**
 * Background processes on Modal. An SDK exec cannot be reattached from
 * another client with its output, so output is kept inside the sandbox by
 * core's process scripts (the same ones local-docker runs): `spawn` starts a
 * detached supervisor through one short exec, and every other call (read
 * from an offset, stdin, wait, kill, list) is another exec of a script. Any
 * handle in any OS process that reaches the sandbox (`fromId`) can therefore
 * list, replay and kill a process.
 */

/** What the sandbox lends the process machinery. */
export interface ModalProcessHost {
  readonly instance: Sandbox;
  error(code: SandboxErrorCode, options?: SandboxErrorOptions): SandboxError;
  /** Maps an SDK failure of a call (a gone sandbox -> `SANDBOX_NOT_FOUND`). */
  commandError(error: unknown, context: string): SandboxError;
  /** Whether the sandbox still runs (false when it is gone). */
  isRunning(): Promise<boolean>;
}

/** SDK exec timeout of a short helper script (whole seconds: the SDK sends seconds). */
const SCRIPT_TIMEOUT_MS = 60_000;

interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function markerOf(id: string): string {
  return processMarker(MODAL_EXEC_MARKER_VARIABLE, id);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Runs a helper script to completion (with `input` on its stdin when given) and collects its small output. */
async function runScript(
  host: ModalProcessHost,
  script: string,
  args: string[],
  options: { input?: Uint8Array; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ScriptResult> {
  try {
    const process: ContainerProcess<Uint8Array> = await host.instance.exec(["sh", "-c", script, "sandbox-process", ...args], {
      mode: "binary",
      stdout: "pipe",
      stderr: "pipe",
      ...(options.env && Object.keys(options.env).length > 0 ? { env: options.env } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    const writer = process.stdin.getWriter();
    const feeding = (async () => {
      if (options.input !== undefined && options.input.byteLength > 0) await writer.write(options.input);
      await writer.close();
    })().catch(() => undefined);
    const [stdout, stderr, exitCode] = await Promise.all([readAll(process.stdout), readAll(process.stderr), process.wait(), feeding]);
    return { exitCode, stdout, stderr };
  } catch (error) {
    throw host.commandError(error, "a process helper failed");
  }
}

function notFound(host: ModalProcessHost, id: string): SandboxError {
  const hint = id.startsWith("t-") ? " (a PTY process cannot be reattached: its terminal lives in the handle that spawned it)" : "";
  return host.error("INVALID_ARGUMENT", { message: `no process with id "${id}" in this sandbox${hint}`, details: { reason: "process-not-found", id } });
}

/** Throws `SANDBOX_NOT_FOUND` when the sandbox is gone. */
async function assertAlive(host: ModalProcessHost): Promise<void> {
  if (!(await host.isRunning().catch(() => false)))
    throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
}

/** Starts a background process (no terminal) under the supervisor. */
export async function startModalProcess(host: ModalProcessHost, request: ProcessRequest, retainedBytes: number): Promise<SandboxProcess> {
  const id = newProcessId();
  const result = await runScript(
    host,
    SPAWN_SCRIPT,
    [id, request.command, timeoutTenths(request.timeoutMs), String(retainedBytes), request.cwd ?? "", markerOf(id), KILL_BY_MARKER_SCRIPT, SUPERVISOR_SCRIPT],
    { env: request.env, timeoutMs: SCRIPT_TIMEOUT_MS },
  );
  if (result.exitCode !== 0) {
    await assertAlive(host);
    throw host.error("COMMAND_FAILED", { message: `could not start process: ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
  }
  return processHandle(host, id, request.command, 0);
}

/** Every process started with `spawn` (no terminal) in the sandbox. */
export async function listModalProcesses(host: ModalProcessHost): Promise<ProcessInfo[]> {
  const result = await runScript(host, LIST_SCRIPT, [], { timeoutMs: SCRIPT_TIMEOUT_MS });
  if (result.exitCode !== 0) {
    await assertAlive(host);
    throw host.error("COMMAND_FAILED", { message: `could not list processes: ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
  }
  return parseProcessList(result.stdout);
}

/** A handle on process `id` whose streams read from `fromOffset`. */
export async function openModalProcess(host: ModalProcessHost, id: string, fromOffset: number): Promise<SandboxProcess> {
  const found = (await listModalProcesses(host)).find((process) => process.id === id);
  if (!found) throw notFound(host, id);
  return processHandle(host, id, found.command, fromOffset);
}

function processHandle(host: ModalProcessHost, id: string, command: string, fromOffset: number): SandboxProcess {
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
        if (typeof data !== "string" && !(data instanceof Uint8Array))
          throw host.error("INVALID_ARGUMENT", { message: "stdin.write() takes a string or a Uint8Array" });
        if (stdinClosed) throw closedError();
        const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
        if (bytes.byteLength === 0) return;
        const result = await runScript(host, STDIN_WRITE_SCRIPT, [id], { input: bytes, timeoutMs: SCRIPT_TIMEOUT_MS });
        if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        if (result.exitCode === 4) throw host.error("COMMAND_FAILED", { message: `process "${id}" has ended; its stdin takes no more input` });
        if (result.exitCode === 5) throw closedError();
        if (result.exitCode !== 0) {
          await assertAlive(host);
          throw host.error("COMMAND_FAILED", {
            message: `could not write to the stdin of process "${id}": ${result.stderr.trim() || `exit ${String(result.exitCode)}`}`,
          });
        }
      },
      async end() {
        if (stdinClosed) return;
        const result = await runScript(host, STDIN_END_SCRIPT, [id], { timeoutMs: SCRIPT_TIMEOUT_MS });
        if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        stdinClosed = true;
      },
    },
    async wait() {
      const result = await runScript(host, WAIT_SCRIPT, [id]).catch(async (error: unknown) => {
        await assertAlive(host);
        throw error;
      });
      if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
      const exit = result.exitCode === 0 ? parseProcessExit(result.stdout) : undefined;
      if (exit === undefined) {
        await assertAlive(host);
        throw host.error("COMMAND_FAILED", { message: `could not wait for process "${id}": ${result.stderr.trim() || `exit ${String(result.exitCode)}`}` });
      }
      return exit;
    },
    async kill() {
      const result = await runScript(host, KILL_SCRIPT, [id, markerOf(id)], { timeoutMs: SCRIPT_TIMEOUT_MS }).catch(async (error: unknown) => {
        await assertAlive(host);
        throw error;
      });
      if (result.exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
      return { killConfirmed: result.exitCode === 0 };
    },
    async resize() {
      throw host.error("INVALID_ARGUMENT", { message: `process "${id}" has no terminal; spawn it with { pty: { cols, rows } } to resize` });
    },
  };
}

/**
 * Streams `stream` of process `id` from `fromOffset`: an exec running core's
 * `READ_SCRIPT`, pulled chunk by chunk (the SDK reads its gRPC stream only as
 * the consumer asks, so host memory stays bounded). A consumer that stops
 * early gets the reader killed inside the sandbox by its marker.
 */
function readStream(host: ModalProcessHost, id: string, stream: "out" | "err", fromOffset: number, context: OutputReadContext): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      const readerMarker = `${MODAL_EXEC_MARKER_VARIABLE}=reader-${randomUUID()}`;
      let process: ContainerProcess<Uint8Array>;
      try {
        process = await host.instance.exec(["sh", "-c", `exec </dev/null; ${READ_SCRIPT}`, "sandbox-read", id, stream, String(fromOffset)], {
          mode: "binary",
          stdout: "pipe",
          stderr: "pipe",
          env: { [MODAL_EXEC_MARKER_VARIABLE]: readerMarker.slice(MODAL_EXEC_MARKER_VARIABLE.length + 1) },
        });
      } catch (error) {
        throw host.commandError(error, `could not read the output of process "${id}"`);
      }
      let notes = "";
      const decoder = new TextDecoder();
      const noting = (async () => {
        for await (const chunk of process.stderr as unknown as AsyncIterable<Uint8Array>) {
          notes = takeDroppedNotes(notes + decoder.decode(chunk, { stream: true }), (bytes) => context.dropped(bytes));
        }
      })();
      noting.catch(() => undefined);
      const reader = process.stdout.getReader();
      let finished = false;
      try {
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch (error) {
            await assertAlive(host);
            throw host.commandError(error, `reading the output of process "${id}" failed`);
          }
          if (next.value && next.value.byteLength > 0) yield next.value;
          if (next.done) break;
        }
        finished = true;
        let exitCode: number;
        try {
          [exitCode] = await Promise.all([process.wait(), noting]);
        } catch (error) {
          await assertAlive(host);
          throw host.commandError(error, `reading the output of process "${id}" failed`);
        }
        if (exitCode === 0) return;
        if (exitCode === NO_SUCH_PROCESS_EXIT) throw notFound(host, id);
        await assertAlive(host);
        throw host.error("COMMAND_FAILED", {
          message: `reading the ${stream === "out" ? "stdout" : "stderr"} of process "${id}" failed (exit ${String(exitCode)}): ${notes.trim()}`,
        });
      } finally {
        if (!finished) {
          await reader.cancel().catch(() => undefined);
          await host.instance
            .exec(["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", readerMarker], { stdout: "ignore", stderr: "ignore", timeoutMs: SCRIPT_TIMEOUT_MS })
            .then((killer) => killer.wait())
            .catch(() => undefined);
        }
      }
    },
  };
}
