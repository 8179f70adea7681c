/**
 * A `cwd` that cannot be entered, answered the same on every adapter: the
 * call rejects with `INVALID_ARGUMENT` naming the cwd and why, and nothing of
 * the command runs (no exit code, since no command ran).
 *
 * Providers answer a missing working directory each their own way (Docker's
 * exec exits 126 with the runtime's words in the output, a chroot's `cd`
 * prints to stderr), so an adapter does not hand the cwd to its provider:
 * it runs {@link commandArgv}, whose shell enters the directory itself
 * before anything else and, when it cannot, says why on the first stderr line
 * (read by `OomBaselineReader`, which takes that line off the stream). The
 * adapter then resolves its `runCommand` with `cwdProblem`, and core rejects.
 */

/** Why a cwd could not be entered. */
export type CwdProblem = "not_found" | "not_a_directory" | "permission_denied";

/** Start of the stderr line the cwd prefix prints when it cannot enter the directory. */
export const CWD_PROBLEM_TAG = "\u0001sandbox-cwd:";

/**
 * One shell line (ending in `; `), first in the `sh -c` script, with the cwd
 * as `$1`: enters it, or prints `<tag><problem>\n` on stderr and exits 126;
 * then drops `$1`, so the command sees no positional parameter. Builtins
 * only: no process, no round trip.
 */
export const ENTER_CWD_PREFIX =
  `cd -- "$1" 2>/dev/null || { if [ ! -e "$1" ]; then set -- not_found; elif [ ! -d "$1" ]; then set -- not_a_directory; ` +
  `else set -- permission_denied; fi; printf '\\001sandbox-cwd:%s\\n' "$1" >&2; exit 126; }; shift; `;

/**
 * The argv that runs `script` (already carrying any other prefix) through
 * `/bin/sh -c`, in `cwd` when given (entered by {@link ENTER_CWD_PREFIX}, put
 * before `script`). `$0` is `/bin/sh` either way.
 */
export function shellArgvIn(script: string, cwd: string | undefined): string[] {
  return cwd === undefined ? ["/bin/sh", "-c", script] : ["/bin/sh", "-c", `${ENTER_CWD_PREFIX}${script}`, "/bin/sh", cwd];
}

/** The problem named on a cwd-problem line (the text after the tag), or undefined. */
export function parseCwdProblem(text: string): CwdProblem | undefined {
  return text === "not_found" || text === "not_a_directory" || text === "permission_denied" ? text : undefined;
}

/** The cwd problem a stderr text starts with (the prefix's line), or undefined: for an adapter that reads stderr whole. */
export function cwdProblemIn(stderr: string): CwdProblem | undefined {
  if (!stderr.startsWith(CWD_PROBLEM_TAG)) return undefined;
  const end = stderr.indexOf("\n");
  return parseCwdProblem(stderr.slice(CWD_PROBLEM_TAG.length, end === -1 ? undefined : end));
}

const CWD_PROBLEM_WORDS: Record<CwdProblem, string> = {
  not_found: "does not exist in the sandbox",
  not_a_directory: "is not a directory",
  permission_denied: "cannot be entered by the sandbox's user (permission denied)",
};

/** The message of the `INVALID_ARGUMENT` a cwd problem rejects with. */
export function cwdProblemMessage(cwd: string, problem: CwdProblem, outcome = "the command did not run"): string {
  return `invalid option "cwd": ${JSON.stringify(cwd)} ${CWD_PROBLEM_WORDS[problem]}; ${outcome}`;
}
