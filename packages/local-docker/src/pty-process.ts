import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import {
  createProcessOutputStream,
  EXEC_MARKER_VARIABLE,
  KILL_BY_MARKER_SCRIPT,
  type ProcessExit,
  type ProcessRequest,
  type SandboxProcess,
} from "@sandbox/core";
import { PacedChunks } from "./paced-chunks.js";
import type { ProcessHost } from "./sandbox-processes.js";

/**
 * Docker sizes an exec's terminal only after the process started (the
 * resize call comes after the start), so the command waits up to 1 s for a
 * size before it runs: a program that reads its size at once sees the one
 * asked for. Images without `stty` skip the wait.
 */
const WAIT_FOR_SIZE = [
  "command -v stty >/dev/null 2>&1 && i=0 && while [ $i -lt 50 ]; do",
  '  case "$(stty size 2>/dev/null)" in ""|"0 0") sleep 0.02; i=$((i + 1));; *) break;; esac',
  "done",
  'exec sh -c "$1"',
].join("\n");

/**
 * A process under a pseudo-terminal: a Docker exec with `Tty: true`, sized
 * with the exec resize API. The terminal lives in this handle's connection,
 * so a PTY process cannot be reattached from another handle (it is not in
 * `listProcesses()`); its stdout can be iterated once.
 */
export async function startPtyProcess(host: ProcessHost, request: ProcessRequest): Promise<SandboxProcess> {
  const id = `t-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
  const marker = `${EXEC_MARKER_VARIABLE}=process-${id}`;
  const { cols, rows } = request.pty!;
  const raw = host.container.raw;
  let connection: Duplex;
  let exec: Awaited<ReturnType<typeof raw.exec>>;
  try {
    exec = await raw.exec({
      Cmd: ["sh", "-c", WAIT_FOR_SIZE, "sandbox-pty", request.command],
      Env: [...Object.entries(request.env).map(([key, value]) => `${key}=${value}`), marker, "TERM=xterm"],
      WorkingDir: request.cwd,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      ConsoleSize: [rows, cols],
    } as Parameters<typeof raw.exec>[0]);
    connection = (await exec.start({ hijack: true, stdin: true, Tty: true } as Parameters<typeof exec.start>[0])) as Duplex;
  } catch (error) {
    throw host.commandError(error);
  }
  await exec.resize({ h: rows, w: cols }).catch(() => undefined);

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
      let info: Awaited<ReturnType<typeof exec.inspect>>;
      try {
        info = await exec.inspect();
      } catch (error) {
        const running = await host.container.isRunning().catch(() => false);
        if (!running) throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
        throw host.commandError(error);
      }
      if (!(await host.container.isRunning().catch(() => false))) {
        throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
      }
      return reason === "exited" ? { exitCode: typeof info.ExitCode === "number" ? info.ExitCode : null, reason } : { exitCode: null, reason };
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
        if (typeof data !== "string" && !(data instanceof Uint8Array))
          throw host.error("INVALID_ARGUMENT", { message: "stdin.write() takes a string or a Uint8Array" });
        if (ended) throw host.error("COMMAND_FAILED", { message: `process "${id}" has ended; its terminal takes no more input` });
        await new Promise<void>((resolve, reject) =>
          connection.write(typeof data === "string" ? data : Buffer.from(data), (error) => (error ? reject(host.commandError(error)) : resolve())),
        );
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
        await exec.resize({ h: newRows, w: newCols });
      } catch (error) {
        throw host.commandError(error);
      }
    },
  };
}
