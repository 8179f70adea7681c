/**
 * The environment variable adapters put on every command they start, with a
 * value unique to that command. Children inherit it whatever session or
 * process group they move to, so {@link KILL_BY_MARKER_SCRIPT} finds the whole
 * tree (see docs/decisions/0001-kill-commands-by-marker.md).
 */
export const EXEC_MARKER_VARIABLE = "SANDBOX_EXEC_ID";

/**
 * A POSIX `sh` script, run as a second command in the sandbox with the marker
 * entry (`SANDBOX_EXEC_ID=<value>`) as `$1`: sends SIGKILL to every process
 * whose environment holds it and repeats until a pass finds none; exits 1
 * when some survive ten passes. Needs only `sh`, `tr`, `grep` and `kill`
 * (busybox has them). Run it as `sh -c SCRIPT sandbox-kill MARKER_ENTRY`.
 */
export const KILL_BY_MARKER_SCRIPT = [
  'marker="$1"',
  "for attempt in 1 2 3 4 5 6 7 8 9 10; do",
  "  found=",
  "  for dir in /proc/[0-9]*; do",
  '    if tr "\\000" "\\n" < "$dir/environ" 2>/dev/null | grep -qx "$marker"; then',
  '      kill -9 "${dir#/proc/}" 2>/dev/null && found=1',
  "    fi",
  "  done",
  '  [ -z "$found" ] && exit 0',
  "  sleep 0.05",
  "done",
  "exit 1",
].join("\n");
