import { randomUUID } from "node:crypto";
import {
  type CommandRequest,
  type CwdProblem,
  KILL_BY_MARKER_SCRIPT,
  OOM_BASELINE_PREFIX,
  OomBaselineReader,
  parseOomKillCount,
  READ_OOM_KILL_COUNT_COMMAND,
  shellArgvIn,
} from "@sandbox/core";
import type { ContainerProcess, Sandbox } from "modal";

/**
 * Environment variable that marks every process of one command (children
 * inherit it), so a second exec running core's `KILL_BY_MARKER_SCRIPT` can
 * find and kill the whole tree: `ContainerProcess` has no `kill()` in
 * `modal@0.11.1`. Deliberately not core's `EXEC_MARKER_VARIABLE` (`SANDBOX_EXEC_ID`): a backend
 * may mark its own execs with that one (the emulator's engine layer does),
 * and it would overwrite ours. Internal: not exported from the package.
 */
export const MODAL_EXEC_MARKER_VARIABLE = "SANDBOX_EXEC_MARKER";

/** How long after the kill is confirmed the command's own exit is awaited before settling anyway. */
const EXIT_AFTER_KILL_GRACE_MS = 2_000;

/** The SDK exec timeout of the kill command itself. */
const KILL_EXEC_TIMEOUT_MS = 30_000;

/**
 * Prefixed to every command: the SDK leaves an exec's stdin open, so a
 * command reading stdin (`cat`, `read`) would wait forever. Redirecting the
 * shell's own stdin from /dev/null costs no extra process or RPC, and stays
 * on line 1 so error messages keep their line numbers.
 */
export const EMPTY_STDIN_PREFIX = "exec </dev/null; ";

/**
 * The argv that runs `command` through `sh -c` with an empty stdin, after
 * core's `OOM_BASELINE_PREFIX` (the OOM-kill counter before the command, as
 * the first stderr line, read by builtins: no extra process or RPC), in
 * `cwd` when given: the shell enters it (core's `ENTER_CWD_PREFIX`) rather
 * than the exec's `workdir`, so a cwd it cannot enter is answered the same
 * whatever Modal would do with a missing workdir.
 */
export function shellArgv(command: string, cwd?: string): string[] {
  // By absolute path: the exec's environment carries the caller's env, and a PATH there must not hide the shell.
  return shellArgvIn(`${OOM_BASELINE_PREFIX}${EMPTY_STDIN_PREFIX}${command}`, cwd);
}

/** What {@link runInSandbox} reports. */
export interface SandboxCommandOutcome {
  /** Exit code; `null` when the command was killed on abort. */
  exitCode: number | null;
  /** True when the signal fired and the command was killed. */
  killed: boolean;
  /** After a kill: false when survivors were seen or the command did not exit. */
  killConfirmed?: boolean;
  /** The sandbox's OOM-kill counter just before the command ran; undefined when unreadable. */
  oomKillsBefore?: number;
  /** The cwd could not be entered: nothing of the command ran. */
  cwdProblem?: CwdProblem;
}

/**
 * The SDK exec timeout used as a backstop behind core's own timer: whole
 * seconds, a minute past the command timeout, so the command still ends if
 * this process dies before it can kill it.
 */
export function backstopTimeoutMs(commandTimeoutMs: number): number {
  return Math.ceil(commandTimeoutMs / 1000) * 1000 + 60_000;
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, sink: (chunk: Uint8Array) => void): Promise<void> {
  for (;;) {
    const { value, done } = await reader.read();
    if (value && value.byteLength > 0) sink(value);
    if (done) return;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

/**
 * Runs `request.command` through `sh -c` in the sandbox: stdout and stderr
 * are read concurrently and fed to the request's callbacks as they arrive,
 * then the exit code is awaited. On abort the command's process tree is
 * killed by a second exec, and the call settles once that kill is done.
 *
 * @throws whatever the SDK throws (the caller maps it), or an Error when
 *   processes survived the kill.
 */
export async function runInSandbox(instance: Sandbox, request: CommandRequest): Promise<SandboxCommandOutcome> {
  const marker = `${MODAL_EXEC_MARKER_VARIABLE}=${randomUUID()}`;
  const env = { ...request.env, [MODAL_EXEC_MARKER_VARIABLE]: marker.slice(MODAL_EXEC_MARKER_VARIABLE.length + 1) };
  if (request.signal.aborted) return { exitCode: null, killed: true };
  const process: ContainerProcess<Uint8Array> = await instance.exec(shellArgv(request.command, request.cwd), {
    mode: "binary",
    stdout: "pipe",
    stderr: "pipe",
    env,
    timeoutMs: backstopTimeoutMs(request.timeoutMs),
  });

  const stdout = process.stdout.getReader();
  const stderr = process.stderr.getReader();
  const stderrSink = new OomBaselineReader(request.onStderr);
  const completion = Promise.all([process.wait(), drain(stdout, request.onStdout), drain(stderr, stderrSink.push).then(() => stderrSink.end())]).then(
    ([exitCode]) => exitCode,
  );
  // Once aborted, a late failure of the abandoned reads must not surface as unhandled.
  completion.catch(() => undefined);

  let onAbort: (() => void) | undefined;
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const first = await Promise.race([completion, aborted]);
    if (first !== "aborted") {
      if (first === 126 && stderrSink.cwdProblem !== undefined) return { exitCode: first, killed: false, cwdProblem: stderrSink.cwdProblem };
      return { exitCode: first, killed: false, oomKillsBefore: stderrSink.baseline };
    }
  } finally {
    if (onAbort) request.signal.removeEventListener("abort", onAbort);
  }

  // A kill exec that failed proves nothing: count it as survivors.
  const survivors = await killMarked(instance, marker, stderrSink.processGroup).catch(() => true);
  // The command's own exit is the proof it is gone; wait for it briefly, then stop reading.
  const exited = await Promise.race([
    completion.then(
      () => true,
      () => true,
    ),
    delay(EXIT_AFTER_KILL_GRACE_MS).then(() => false),
  ]);
  for (const reader of [stdout, stderr]) void reader.cancel().catch(() => undefined);
  return { exitCode: null, killed: true, killConfirmed: !survivors && exited };
}

/** How long a kill keeps retrying its killer exec (it cannot start while a fork bomb holds every pid). */
const KILLER_RETRY_MS = 12_000;

/**
 * Kills every process carrying `marker` in its environment (and the
 * command's process group first, when known), by a second exec; retried
 * while the killer cannot run or reports survivors.
 * @returns true when some processes survived.
 */
async function killMarked(instance: Sandbox, marker: string, processGroup: number | undefined): Promise<boolean> {
  const argv = ["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", marker];
  if (processGroup !== undefined) argv.push(String(processGroup));
  const deadline = Date.now() + KILLER_RETRY_MS;
  for (let attempt = 0; ; attempt += 1) {
    let exitCode: number | undefined;
    try {
      const killer = await instance.exec(argv, { mode: "binary", stdout: "ignore", stderr: "ignore", timeoutMs: KILL_EXEC_TIMEOUT_MS });
      exitCode = await killer.wait();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (exitCode === 0) return false;
    if (Date.now() > deadline) return true;
    await delay(Math.min(200, 20 * (attempt + 1)));
  }
}

/**
 * Reads the sandbox cgroup's OOM-kill counter (cgroup v2 `memory.events` or
 * v1 `memory.oom_control`); `undefined` when neither is readable.
 */
export async function readOomKillCount(instance: Sandbox): Promise<number | undefined> {
  const reader = await instance.exec(["sh", "-c", READ_OOM_KILL_COUNT_COMMAND], { mode: "text", stdout: "pipe", stderr: "ignore", timeoutMs: 30_000 });
  const [text] = await Promise.all([reader.stdout.readText(), reader.wait()]);
  return parseOomKillCount(text);
}
