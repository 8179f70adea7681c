import { randomBytes } from "node:crypto";
import {
  createProcessOutputStream,
  EXEC_MARKER_VARIABLE,
  KILL_BY_MARKER_SCRIPT,
  type ProcessExit,
  type ProcessRequest,
  processMarker,
  type SandboxProcess,
  stdinBytes,
} from "@sandbox/core";
import { type EngineTerminal, execTerminal } from "@sandbox/docker-engine";
import { PacedChunks } from "./paced-chunks.js";
import type { ProcessHost } from "./sandbox-processes.js";

/**
 * A process under a pseudo-terminal: a Docker exec with `Tty: true`, sized
 * with the exec resize API. The terminal lives in this handle's connection,
 * so a PTY process cannot be reattached from another handle (it is not in
 * `listProcesses()`); its stdout can be iterated once.
 */
export async function startPtyProcess(host: ProcessHost, request: ProcessRequest): Promise<SandboxProcess> {
  const id = `t-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
  const marker = processMarker(EXEC_MARKER_VARIABLE, id);
  const { cols, rows } = request.pty!;
  let terminal: EngineTerminal;
  try {
    const env = { ...request.env, [EXEC_MARKER_VARIABLE]: marker.slice(EXEC_MARKER_VARIABLE.length + 1), TERM: "xterm" };
    terminal = await execTerminal(host.container, ["/bin/sh", "-c", request.command], { env, cwd: request.cwd, rows, cols });
  } catch (error) {
    throw host.commandError(error);
  }
  const connection = terminal.connection;

  const output = new PacedChunks();
  output.connection = connection;
  let ended = false;
  connection.on("data", (chunk: Buffer) => output.push(chunk));
  const closed = new Promise<void>((resolve) => {
    const finish = () => {
      ended = true;
      output.wake();
      resolve();
    };
    connection.on("end", finish);
    connection.on("close", finish);
    connection.on("error", finish);
  });
  let reading = false;
  let reason: ProcessExit["reason"] = "exited";
  let killing: Promise<{ killConfirmed: boolean }> | undefined;
  const kill = () => {
    killing ??= (async () => {
      const result = await host.container.exec(["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", marker]).then(
        (killer) => killer.done,
        (error: unknown) => {
          throw host.commandError(error);
        },
      );
      return { killConfirmed: result.exitCode === 0 };
    })();
    return killing;
  };
  const timer =
    request.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          if (reason === "exited") reason = "timeout";
          void kill().catch(() => undefined);
        }, request.timeoutMs);
  timer?.unref?.();

  let exit: Promise<ProcessExit> | undefined;
  const wait = () => {
    exit ??= (async () => {
      await closed;
      if (timer) clearTimeout(timer);
      let info: Awaited<ReturnType<typeof terminal.inspect>>;
      try {
        info = await terminal.inspect();
      } catch (error) {
        const running = await host.container.isRunning().catch(() => false);
        if (!running) throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
        throw host.commandError(error);
      }
      if (!(await host.container.isRunning().catch(() => false))) {
        throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
      }
      return reason === "exited" ? { exitCode: info.ExitCode, reason } : { exitCode: null, reason };
    })();
    return exit;
  };

  return {
    id,
    command: request.command,
    pty: true,
    stdout: createProcessOutputStream("stdout", () => ({
      async *[Symbol.asyncIterator]() {
        if (reading) throw host.error("INVALID_ARGUMENT", { message: `the terminal output of process "${id}" can be read once; it is already being read` });
        reading = true;
        yield* output.drain(() => ended);
        // A dead sandbox ends the connection too: say so instead of a clean end.
        await wait();
      },
    })),
    stderr: createProcessOutputStream("stderr", () => ({
      async *[Symbol.asyncIterator]() {
        // A terminal merges stderr into stdout.
      },
    })),
    stdin: {
      async write(data) {
        const bytes = stdinBytes(data, host.error);
        if (ended) throw host.error("COMMAND_FAILED", { message: `process "${id}" has ended; its terminal takes no more input` });
        await new Promise<void>((resolve, reject) => connection.write(Buffer.from(bytes), (error) => (error ? reject(host.commandError(error)) : resolve())));
      },
      async end() {
        connection.end();
      },
    },
    wait,
    async kill() {
      if (ended) return { killConfirmed: true };
      if (reason === "exited") reason = "killed";
      const result = await kill();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      return result;
    },
    async resize(newCols, newRows) {
      const valid = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 1000;
      if (!valid(newCols) || !valid(newRows))
        throw host.error("INVALID_ARGUMENT", { message: `terminal size must be whole numbers 1-1000, got ${String(newCols)}x${String(newRows)}` });
      try {
        await terminal.resize(newRows, newCols);
      } catch (error) {
        throw host.commandError(error);
      }
    },
  };
}
