import type { Duplex } from "node:stream";
import type { EngineContainer } from "./docker-engine.js";

/**
 * Docker sizes an exec's terminal only after the process started (the resize
 * call comes after the start; `ConsoleSize` is ignored by older engines), so
 * the program is started through `sh`, which waits up to 1 s for the size
 * first: a program that reads its size at once sees the one asked for.
 * Images without `stty` skip the wait.
 */
const WAIT_FOR_SIZE = [
  "command -v stty >/dev/null 2>&1 && i=0 && while [ $i -lt 50 ]; do",
  '  case "$(stty size 2>/dev/null)" in ""|"0 0") sleep 0.02; i=$((i + 1));; *) break;; esac',
  "done",
  'exec "$@"',
].join("\n");

/** A Docker exec under a pseudo-terminal (`Tty: true`). */
export interface EngineTerminal {
  /** The hijacked connection: what the terminal shows comes in, what is typed goes out. */
  readonly connection: Duplex;
  /** Resizes the terminal (the kernel signals the program in the foreground). */
  resize(rows: number, cols: number): Promise<void>;
  /** The engine's view of the exec; `ExitCode` is null while it runs or when it was killed without one. */
  inspect(): Promise<{ Running: boolean; ExitCode: number | null }>;
}

/** Options of {@link execTerminal}. */
export interface EngineTerminalOptions {
  env: Record<string, string>;
  /** Working directory; undefined: the container's. */
  cwd?: string;
  rows: number;
  cols: number;
}

/**
 * Starts `argv` (no shell of its own) in `container` under a pseudo-terminal
 * of `rows` x `cols`, stdin attached. Unlike `EngineContainer.exec`, no marker
 * variable is added (pass one in `env` to kill the tree later) and failures
 * are the Docker client's own errors, for the caller to map.
 */
export async function execTerminal(container: EngineContainer, argv: string[], options: EngineTerminalOptions): Promise<EngineTerminal> {
  const raw = container.raw;
  const exec = await raw.exec({
    Cmd: ["sh", "-c", WAIT_FOR_SIZE, "sandbox-pty", ...argv],
    Env: Object.entries(options.env).map(([key, value]) => `${key}=${value}`),
    WorkingDir: options.cwd,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    ConsoleSize: [options.rows, options.cols],
  } as Parameters<typeof raw.exec>[0]);
  const connection = (await exec.start({ hijack: true, stdin: true, Tty: true } as Parameters<typeof exec.start>[0])) as Duplex;
  // Engines that ignore ConsoleSize get the size right after the start.
  await exec.resize({ h: options.rows, w: options.cols }).catch(() => undefined);
  return {
    connection,
    resize: async (rows, cols) => {
      await exec.resize({ h: rows, w: cols });
    },
    inspect: async () => {
      const info = await exec.inspect();
      return { Running: info.Running, ExitCode: typeof info.ExitCode === "number" ? info.ExitCode : null };
    },
  };
}
