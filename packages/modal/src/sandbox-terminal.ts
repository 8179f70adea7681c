import { randomBytes } from "node:crypto";
import { createProcessOutputStream, type ProcessExit, type ProcessRequest, processMarker, type SandboxProcess, stdinBytes } from "@sandbox/core";
import type { ContainerProcess } from "modal";
import { backstopTimeoutMs, MODAL_EXEC_MARKER_VARIABLE } from "./sandbox-exec.js";
import { assertAlive, killByMarker, type ModalProcessHost, pullChunks } from "./sandbox-processes.js";

/** Where each terminal's device path is noted, so a later exec can resize it. */
const TERMINALS_DIRECTORY = "/tmp/.sandbox-terminals";

/**
 * Runs under the SDK's PTY (`exec(argv, { pty: true })`, always 24 x 80):
 * `$1` id, `$2` rows, `$3` cols, `$4` command. Sets the asked size on its own
 * terminal, notes the terminal's device, then becomes the command.
 */
const TERMINAL_SCRIPT = `
stty rows "$2" cols "$3" 2>/dev/null
mkdir -p ${TERMINALS_DIRECTORY} 2>/dev/null && tty > "${TERMINALS_DIRECTORY}/$1" 2>/dev/null
exec sh -c "$4"
`;

/**
 * Resizes terminal `$1` to `$2` rows x `$3` cols from another exec (the
 * kernel sends SIGWINCH to the program in the foreground, as a terminal
 * window does). Exit 3: no such terminal.
 */
const RESIZE_SCRIPT = `
t=$(cat "${TERMINALS_DIRECTORY}/$1" 2>/dev/null); [ -n "$t" ] || exit 3
stty -F "$t" rows "$2" cols "$3"
`;

/** How long after a confirmed kill the program's own exit is awaited. */
const EXIT_AFTER_KILL_MS = 5_000;

/**
 * A process under a pseudo-terminal through the SDK's PTY exec. Modal's
 * protocol has no resize call and the SDK always asks for 24 x 80, so the
 * size is set with `stty` inside the terminal, before the command starts and
 * on `resize()`. The terminal lives in this handle's exec, so a PTY process
 * cannot be reattached (it is not in `listProcesses()`); its stdout can be
 * iterated once.
 */
export async function startModalTerminal(host: ModalProcessHost, request: ProcessRequest): Promise<SandboxProcess> {
  const id = `t-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
  const marker = processMarker(MODAL_EXEC_MARKER_VARIABLE, id);
  const { cols, rows } = request.pty!;
  let process: ContainerProcess<Uint8Array>;
  try {
    process = await host.instance.exec(["/bin/sh", "-c", TERMINAL_SCRIPT, "sandbox-pty", id, String(rows), String(cols), request.command], {
      mode: "binary",
      pty: true,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...request.env, [MODAL_EXEC_MARKER_VARIABLE]: marker.slice(MODAL_EXEC_MARKER_VARIABLE.length + 1) },
      ...(request.cwd !== undefined ? { workdir: request.cwd } : {}),
      ...(request.timeoutMs !== undefined ? { timeoutMs: backstopTimeoutMs(request.timeoutMs) } : {}),
    });
  } catch (error) {
    throw host.commandError(error, "could not start the terminal process");
  }
  const writer = process.stdin.getWriter();
  let reason: ProcessExit["reason"] = "exited";
  let stdinClosed = false;
  let reading = false;

  const exited = process.wait();
  exited.catch(() => undefined);
  let killing: Promise<{ killConfirmed: boolean }> | undefined;
  const kill = (why: "killed" | "timeout") => {
    killing ??= (async () => {
      reason = why;
      let code: number | undefined;
      try {
        code = await killByMarker(host, marker, 30_000);
      } catch (error) {
        throw host.commandError(error, `could not kill terminal process "${id}"`);
      }
      const ended = await Promise.race([
        exited.then(
          () => true,
          () => true,
        ),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), EXIT_AFTER_KILL_MS).unref?.()),
      ]);
      return { killConfirmed: code === 0 && ended };
    })();
    return killing;
  };
  let timer: NodeJS.Timeout | undefined;
  if (request.timeoutMs !== undefined) {
    timer = setTimeout(() => void kill("timeout").catch(() => undefined), request.timeoutMs);
    timer.unref?.();
  }
  const settled = exited.finally(() => clearTimeout(timer));
  settled.catch(() => undefined);

  const ended = async (): Promise<ProcessExit> => {
    let code: number;
    try {
      code = await settled;
    } catch (error) {
      await assertAlive(host);
      throw host.commandError(error, `could not wait for terminal process "${id}"`);
    }
    if (killing) await killing.catch(() => undefined);
    if (reason !== "exited") return { exitCode: null, reason };
    // A sandbox that ended under the program ends its exec with a kill status.
    if (code >= 128) await assertAlive(host);
    return { exitCode: code, reason };
  };

  return {
    id,
    command: request.command,
    pty: true,
    stdout: createProcessOutputStream("stdout", () => {
      if (reading) throw host.error("INVALID_ARGUMENT", { message: `the terminal output of process "${id}" can be read once (it is not kept for replay)` });
      reading = true;
      return {
        async *[Symbol.asyncIterator]() {
          const reader = process.stdout.getReader();
          let finished = false;
          try {
            yield* pullChunks(host, reader, `reading the terminal of process "${id}" failed`);
            finished = true;
            await ended();
          } finally {
            if (!finished) await reader.cancel().catch(() => undefined);
          }
        },
      };
    }),
    stderr: createProcessOutputStream("stderr", () => ({
      async *[Symbol.asyncIterator]() {
        // Everything goes to the terminal, so to stdout.
      },
    })),
    stdin: {
      async write(data) {
        const bytes = stdinBytes(data, host.error);
        if (stdinClosed) throw host.error("INVALID_ARGUMENT", { message: `the stdin of process "${id}" was closed with end()` });
        if (bytes.byteLength === 0) return;
        try {
          await writer.write(bytes);
        } catch (error) {
          throw host.commandError(error, `could not write to the terminal of process "${id}"`);
        }
      },
      async end() {
        if (stdinClosed) return;
        stdinClosed = true;
        await writer.close().catch(() => undefined);
      },
    },
    wait: ended,
    kill: async () => {
      if (!killing) {
        const done = await Promise.race([settled.then(() => true), Promise.resolve(false)]).catch(() => true);
        if (done) return { killConfirmed: true };
      }
      return kill("killed");
    },
    async resize(newCols: number, newRows: number) {
      for (const [name, value] of [
        ["cols", newCols],
        ["rows", newRows],
      ] as const) {
        if (!Number.isInteger(value) || value < 1 || value > 1000)
          throw host.error("INVALID_ARGUMENT", { message: `invalid terminal ${name} ${String(value)}: must be a whole number 1-1000` });
      }
      let code: number;
      try {
        const resizer = await host.instance.exec(["sh", "-c", RESIZE_SCRIPT, "sandbox-resize", id, String(newRows), String(newCols)], {
          stdout: "ignore",
          stderr: "ignore",
          timeoutMs: 30_000,
        });
        code = await resizer.wait();
      } catch (error) {
        throw host.commandError(error, `could not resize the terminal of process "${id}"`);
      }
      if (code !== 0) throw host.error("COMMAND_FAILED", { message: `could not resize the terminal of process "${id}" (exit ${code}); has it ended?` });
    },
  };
}
