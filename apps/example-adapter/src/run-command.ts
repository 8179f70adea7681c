import { spawn } from "node:child_process";
import { constants } from "node:os";
import { type CommandRequest, ENTER_CWD_PREFIX } from "@sandbox/core";
import { childrenOf, delay, killQuietly } from "./host-processes.js";
import type { HostTools } from "./host-tools.js";

/**
 * Runs inside the root as the command's own pid 1, with the cwd as `$1` and
 * the command as `$2`. It enters the cwd first with core's
 * `ENTER_CWD_PREFIX`, which on failure prints why on fd 2 (see
 * {@link runInSandbox}'s `cwdProblem`). The command's stderr goes
 * to fd 3, so fd 2 carries only what the host tools (nsenter, unshare,
 * chroot) print when they fail: infrastructure errors, kept out of
 * the command's output.
 *
 * The command's shell is a child of this one (a subshell that execs it), not
 * pid 1 itself: the kernel drops a signal sent to a pid namespace's init from
 * inside it, so a command that ends its own shell (`kill -9 $$`) would run on
 * and report exit 0. This shell passes on the child's status (128 + the
 * signal that killed it); its own stderr is gone by then, so that the
 * "Killed" it prints for such a child reaches neither the output nor the
 * infrastructure errors.
 */
const COMMAND_WRAPPER = `${ENTER_CWD_PREFIX}exec 2>/dev/null; (exec /bin/sh -c -- "$1" 2>&3 3>&-); exit $?`;

/** How the command ended. */
export interface CommandEnd {
  /** Exit code, or `null` when the process was killed by a signal. */
  exitCode: number | null;
  /** Name of the signal that killed it, if any. */
  signal: NodeJS.Signals | null;
  /** What the host tools printed (empty when all went well). */
  toolErrors: string;
}

export interface CommandSettings {
  tools: HostTools;
  /** Host pid of the sandbox's init, whose namespaces the command joins. */
  initPid: number;
  root: string;
  cwd: string;
  /** The complete environment of the command (nothing is inherited from the host). */
  env: Record<string, string>;
}

/**
 * Runs `request.command` in the sandbox:
 *
 *   nsenter -t <init> --pid --mount --net    join the sandbox's namespaces
 *     unshare --pid --fork --kill-child      a pid namespace of its own, nested in the sandbox's
 *       chroot <root> /bin/sh -c ...         the command's pid 1
 *
 * Every process the command starts, even one that calls setsid or
 * daemonizes, lives in the command's own pid namespace, and the kernel kills
 * them all when its pid 1 dies. `ps` in any command still sees all of them,
 * because /proc belongs to the sandbox's namespace, one level up.
 *
 * On abort the command's pid 1 is killed; the returned promise settles only
 * when nsenter exits, which is after unshare reaped that pid 1, which the
 * kernel lets happen only after every other process of the namespace is gone.
 */
export function runInSandbox(request: CommandRequest, settings: CommandSettings): Promise<CommandEnd> {
  const { tools, initPid, root, cwd, env } = settings;
  const child = spawn(
    tools.nsenter,
    [
      "--target",
      String(initPid),
      "--pid",
      "--mount",
      "--net",
      "--",
      tools.unshare,
      "--pid",
      "--fork",
      "--kill-child",
      "--",
      tools.chroot,
      root,
      "/bin/sh",
      "-c",
      COMMAND_WRAPPER,
      "/bin/sh",
      cwd,
      request.command,
    ],
    // stdin is /dev/null: a command reading it sees end-of-file at once.
    { stdio: ["ignore", "pipe", "pipe", "pipe"], env },
  );
  let toolErrors = "";
  child.stdout!.on("data", (chunk: Buffer) => request.onStdout(chunk));
  child.stdio[3]!.on("data", (chunk: Buffer) => request.onStderr(chunk));
  child.stderr!.on("data", (chunk: Buffer) => {
    if (toolErrors.length < 4096) toolErrors += chunk.toString("utf8");
  });

  const ended = new Promise<CommandEnd>((resolve, reject) => {
    child.once("error", reject);
    // "close" comes after "exit" and after every pipe reached end-of-file: no output is lost.
    child.once("close", (exitCode, signal) => resolve({ exitCode, signal, toolErrors: toolErrors.trim() }));
  });
  const onAbort = () => void killCommandTree(child.pid, ended);
  if (request.signal.aborted) onAbort();
  else request.signal.addEventListener("abort", onAbort, { once: true });
  return ended.finally(() => request.signal.removeEventListener("abort", onAbort));
}

/**
 * Kills the command's pid 1 (nsenter's grandchild) until nsenter exits. It
 * repeats because an abort can come before nsenter and unshare have forked.
 * nsenter and unshare are left alone: they must stay to reap, which is how
 * we learn that the whole tree is gone.
 */
async function killCommandTree(nsenterPid: number | undefined, ended: Promise<unknown>): Promise<void> {
  if (nsenterPid === undefined) return;
  let finished = false;
  void ended.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    for (const unshare of childrenOf(nsenterPid)) childrenOf(unshare).forEach(killQuietly);
    await Promise.race([ended.catch(() => undefined), delay(20)]);
  }
}

/** The shell's exit code for a death by signal (128 + its number). */
export function exitCodeOfSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
