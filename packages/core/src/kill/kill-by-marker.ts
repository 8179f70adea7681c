/**
 * The environment variable adapters put on every command they start, with a
 * value unique to that command. Children inherit it whatever session or
 * process group they move to, so {@link KILL_BY_MARKER_SCRIPT} finds the whole
 * tree (see docs/decisions/0001-kill-commands-by-marker.md).
 */
export const EXEC_MARKER_VARIABLE = "SANDBOX_EXEC_ID";

/**
 * A POSIX `sh` script, run as a second command in the sandbox with the marker
 * entry (`SANDBOX_EXEC_ID=<value>`) as `$1` and, optionally, the command's
 * process group as `$2` (the pid of its shell, which `docker exec` makes a
 * session and group leader; core's `OOM_BASELINE_PREFIX` reports it).
 *
 * First the group is frozen and killed with two `kill` builtins: no process
 * is needed for that, so it works even when a fork bomb holds every pid the
 * sandbox may have. Then, for whatever left the group, each pass finds every process
 * whose environment holds that exact entry with one `grep -z` over
 * `/proc/[0-9]*\/environ` (two processes per pass, however many it kills) and
 * freezes them with `SIGSTOP`; once a pass finds no process it had not
 * already frozen, the tree cannot grow any more and all of it gets `SIGKILL`.
 * A clean pass that finds none exits 0, once the group has also left the
 * process table (at most ~2 s): a process SIGKILLed a moment ago no longer
 * shows its environment while it exits, yet holds its pid until reaped, and a
 * command started right after the kill would find a fork bomb's pids limit
 * still full. Exits 1 when some survive 200 passes. A pass that cannot even start its scan (no free pid) is retried,
 * never taken for "none left". Needs only `sh`, `grep` (with `-z`) and `kill`
 * (busybox has them). Run it as `sh -c SCRIPT sandbox-kill MARKER_ENTRY [GROUP]`.
 */
export const KILL_BY_MARKER_SCRIPT = [
  'marker="$1"',
  'group="$2"',
  'case "$group" in',
  '  "" | *[!0-9]*) group= ;;',
  '  *) kill -s STOP "-$group" 2>/dev/null; kill -s KILL "-$group" 2>/dev/null ;;',
  "esac",
  "gone() {",
  "  waited=0",
  '  while [ -n "$group" ] && [ "$waited" -lt 100 ] && kill -0 "-$group" 2>/dev/null; do waited=$((waited + 1)); sleep 0.02 2>/dev/null; done',
  "  exit 0",
  "}",
  "frozen=",
  "empty=0",
  "pass=0",
  'while [ "$pass" -lt 200 ]; do',
  "  pass=$((pass + 1))",
  '  out=$(grep -lsxzF -e "$marker" /proc/[0-9]*/environ; echo "rc=$?")',
  '  case "$out" in',
  "    *rc=0 | *rc=1 | *rc=2) ;;",
  "    *) sleep 0.02 2>/dev/null; continue ;;",
  "  esac",
  "  pids=",
  "  for file in $out; do",
  '    case "$file" in /proc/*/environ) file=${file#/proc/}; pids="$pids ${file%/environ}" ;; esac',
  "  done",
  '  if [ -z "$pids" ]; then',
  // grep says 2 when a listed process vanished before it was read: trust that only when it repeats.
  '    case "$out" in *rc=1) gone ;; esac',
  "    empty=$((empty + 1))",
  '    [ "$empty" -ge 3 ] && gone',
  "    continue",
  "  fi",
  "  empty=0",
  "  kill -STOP $pids 2>/dev/null",
  '  if [ "$pids" = "$frozen" ]; then kill -KILL $pids 2>/dev/null; sleep 0.02 2>/dev/null; fi',
  '  frozen="$pids"',
  "done",
  "exit 1",
].join("\n");
