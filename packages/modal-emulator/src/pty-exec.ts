import { randomUUID } from "node:crypto";
import { EXEC_MARKER_VARIABLE, KILL_BY_MARKER_SCRIPT } from "@sandbox/core/host-tools";
import { type EngineContainer, execTerminal } from "@sandbox/docker-engine";
import { EXIT_CANNOT_EXECUTE, type ExecSession, SIGKILL } from "./exec-session.js";
import type { TaskExecStartRequest } from "./modal-sdk-definitions.js";

/** Terminal size Modal uses when `ptyInfo` names none (the SDK always sends 24 x 80). */
const DEFAULT_ROWS = 24;
const DEFAULT_COLS = 80;

/** The terminal `ptyInfo` asks for: its size (Modal's 24 x 80 when none) and `TERM` / `COLORTERM` / `TERM_PROGRAM`. */
export function terminalOf(pty: NonNullable<TaskExecStartRequest["ptyInfo"]>): { rows: number; cols: number; env: Record<string, string> } {
  const env: Record<string, string> = {};
  if (pty.envTerm) env.TERM = pty.envTerm;
  if (pty.envColorterm) env.COLORTERM = pty.envColorterm;
  if (pty.envTermProgram) env.TERM_PROGRAM = pty.envTermProgram;
  return { rows: pty.winszRows || DEFAULT_ROWS, cols: pty.winszCols || DEFAULT_COLS, env };
}

/**
 * A PTY exec (`TaskExecStart` with `ptyInfo.enabled`, what the SDK's
 * `exec(argv, { pty: true })` sends): a Docker exec with `Tty: true`, sized
 * to `ptyInfo.winszRows` x `winszCols`, with `TERM` / `COLORTERM` /
 * `TERM_PROGRAM` from `ptyInfo`. As on Modal, everything the program writes
 * to the terminal (stdout and stderr) comes out as the exec's stdout, with
 * terminal line endings; stderr stays empty; stdin is raw terminal input.
 * The protocol has no resize call: a program changes its size with
 * `stty rows R cols C` on its own terminal.
 */
export async function startPtyExec(
  container: EngineContainer,
  session: ExecSession,
  request: Pick<TaskExecStartRequest, "ptyInfo" | "commandArgs" | "workdir">,
  environment: Record<string, string>,
): Promise<void> {
  const { rows, cols, env: terminalEnv } = terminalOf(request.ptyInfo!);
  const marker = randomUUID();
  const env = { ...terminalEnv, ...environment, [EXEC_MARKER_VARIABLE]: marker };
  // Sized as asked before the program starts (the engine layer waits for the size).
  const terminal = await execTerminal(container, request.commandArgs, { env, cwd: request.workdir || undefined, rows, cols });
  const connection = terminal.connection;
  let killed = false;
  session.attachHostOperation(
    {
      write: (chunk) =>
        new Promise<void>((resolve) => (connection.destroyed || connection.writableEnded ? resolve() : connection.write(chunk, () => resolve()))),
      // A terminal has no end-of-file of its own: end() sends the EOF character, as a terminal user does with Ctrl-D.
      end: () => {
        if (!connection.destroyed && !connection.writableEnded) connection.write(Buffer.from([4]));
      },
    },
    async () => {
      killed = true;
      const killer = await container.exec(["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", `${EXEC_MARKER_VARIABLE}=${marker}`]);
      await killer.done;
    },
  );
  connection.on("data", (chunk: Buffer) => session.appendStdout(chunk));
  let settled = false;
  const finish = () => {
    if (settled) return;
    settled = true;
    void exitCodeOf(terminal).then(
      (code) => session.finish(killed || code === null ? { signal: SIGKILL } : { code }),
      () => session.finish(killed ? { signal: SIGKILL } : { code: EXIT_CANNOT_EXECUTE }),
    );
  };
  connection.on("end", finish);
  connection.on("close", finish);
  connection.on("error", finish);
}

/** The exit code once the engine reports the exec stopped (it may lag the end of the stream a moment); null when killed without one. */
async function exitCodeOf(exec: { inspect(): Promise<{ Running: boolean; ExitCode: number | null }> }): Promise<number | null> {
  for (let attempt = 0; ; attempt += 1) {
    const info = await exec.inspect();
    if (!info.Running || attempt >= 40) return info.ExitCode;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
