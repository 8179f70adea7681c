/**
 * The POSIX `sh` scripts behind background processes, shared by every
 * adapter that can run a command in the sandbox (busybox is enough:
 * `sh`, `setsid`, `mkfifo`, `dd`, `wc`, `tail`, `head`, `ls`, `sed`, `sort`,
 * `base64`). Everything a process leaves lives in its directory inside the
 * sandbox, so any handle in any OS process can list, replay and kill it:
 *
 * - `command` (the command), `kill.sh` (kill-by-marker), `pid`;
 * - `in` (a FIFO: the process's stdin; a holder keeps it open until `in.closed` appears);
 * - `out.<offset>` / `err.<offset>`: output segments named by the byte offset
 *   of their first byte (at most 1 MiB each); `out.end` / `err.end`: the total
 *   once the stream ended. Segments older than the retention are deleted;
 * - `reason` (`killed` / `timeout`, when it applies) and `exit` (`<code> <reason>`).
 */

/**
 * Where the helper scripts look for their tools first, so that a caller's
 * `env.PATH` (which the command gets) cannot hide `mkdir`, `setsid` or `dd`.
 */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Where process directories go: the first that can be created. Readers look in both. */
export const PROCESS_ROOTS = ["/run/sandbox-processes", "/tmp/.sandbox-processes"] as const;

/** Largest output segment: the unit in which old output is dropped. */
export const SEGMENT_BYTES = 1_048_576;

/** Exit code of the helper scripts when no process has the id. */
export const NO_SUCH_PROCESS_EXIT = 3;

const FIND_DIRECTORY = `d=; for root in ${PROCESS_ROOTS.join(" ")}; do if [ -d "$root/$1" ]; then d="$root/$1"; break; fi; done; [ -n "$d" ] || exit ${NO_SUCH_PROCESS_EXIT}`;

/**
 * Supervisor, run detached under `setsid`: `$1` directory, `$2` timeout in
 * tenths of a second (empty: none), `$3` retained bytes per stream, `$4` cwd
 * (empty: default), `$5` marker entry, `$6` the caller's PATH (the command's;
 * the supervisor's own tools are found on the system directories first).
 * Writes `exit` when the command ended.
 */
export const SUPERVISOR_SCRIPT = `
d="$1"; tenths="$2"; retain="$3"; workdir="$4"; marker="$5"; command_path="$6"
segment() {
  s="$1"; start=0; kept=
  while :; do
    dd of="$d/$s.$start" bs=65536 count=16 2>/dev/null
    size=$(wc -c < "$d/$s.$start")
    if [ "$size" -eq 0 ]; then rm -f "$d/$s.$start"; break; fi
    kept="$kept $start"; start=$((start + size))
    set -- $kept
    while [ $# -gt 0 ] && [ $((start - $1)) -gt "$retain" ]; do rm -f "$d/$s.$1"; shift; done
    kept="$*"
  done
  echo "$start" > "$d/$s.end.tmp" && mv "$d/$s.end.tmp" "$d/$s.end"
}
segment out < "$d/out.fifo" &
segment err < "$d/err.fifo" &
( exec 3<>"$d/in"; while [ ! -e "$d/in.closed" ] && [ ! -e "$d/exit" ]; do sleep 0.2; done ) &
(
  if [ -n "$workdir" ]; then cd "$workdir" || exit 1; fi
  export "$marker"
  command=$(cat "$d/command")
  PATH="$command_path"
  exec /bin/sh -c "$command"
) < "$d/in" > "$d/out.fifo" 2> "$d/err.fifo" &
pid=$!
echo "$pid" > "$d/pid"
if [ -n "$tenths" ]; then
  (
    n=0
    while [ "$n" -lt "$tenths" ]; do [ -e "$d/exit" ] && exit 0; sleep 0.1; n=$((n + 1)); done
    [ -e "$d/exit" ] || { echo timeout > "$d/reason"; sh "$d/kill.sh" "$marker"; }
  ) &
fi
wait "$pid"; code=$?
reason=exited; [ -e "$d/reason" ] && reason=$(cat "$d/reason")
echo "$code $reason" > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"
wait
`;

/**
 * Creates the directory and starts the supervisor detached: `$1` id, `$2`
 * command, `$3` timeout tenths, `$4` retained bytes, `$5` cwd, `$6` marker
 * entry, `$7` kill script, `$8` supervisor script. Prints the directory.
 * A cwd that cannot be entered starts nothing: exit 126 and core's cwd
 * problem line on stderr (see `ENTER_CWD_PREFIX`).
 */
export const SPAWN_SCRIPT = `
if [ -n "$5" ] && ! (cd -- "$5") 2>/dev/null; then
  if [ ! -e "$5" ]; then p=not_found; elif [ ! -d "$5" ]; then p=not_a_directory; else p=permission_denied; fi
  printf '\\001sandbox-cwd:%s\\n' "$p" >&2; exit 126
fi
command_path="$PATH"
PATH="${SYSTEM_PATH}\${PATH:+:$PATH}"
d=
for root in ${PROCESS_ROOTS.join(" ")}; do
  if mkdir -p "$root" 2>/dev/null && mkdir "$root/$1" 2>/dev/null; then d="$root/$1"; break; fi
done
[ -n "$d" ] || { echo "could not create a process directory under ${PROCESS_ROOTS.join(" or ")}" >&2; exit 1; }
printf '%s' "$2" > "$d/command"
printf '%s' "$7" > "$d/kill.sh"
mkfifo "$d/in" "$d/out.fifo" "$d/err.fifo" || exit 1
setsid /bin/sh -c "$8" sandbox-supervisor "$d" "$3" "$4" "$5" "$6" "$command_path" < /dev/null > /dev/null 2>&1 &
echo "$d"
`;

/**
 * Streams one output stream from byte `$3` (`$1` id, `$2` `out` / `err`) to
 * stdout: what is retained, then live, until the stream ended. Reports
 * skipped bytes as `dropped <n>` lines on stderr. Each segment is opened
 * (as a redirection of a compound command, whose failure is not fatal)
 * before it is measured and read, so a segment deleted meanwhile is still
 * read whole, and one deleted before is reported as dropped.
 */
export const READ_SCRIPT = `
${FIND_DIRECTORY}
s="$2"; pos="$3"
while :; do
  cur=; next=
  for start in $(ls "$d" | sed -n "s/^$s\\.\\([0-9][0-9]*\\)\\$/\\1/p" | sort -n); do
    if [ "$start" -le "$pos" ]; then cur=$start; elif [ -z "$next" ]; then next=$start; fi
  done
  if [ -z "$cur" ] && [ -n "$next" ]; then echo "dropped $((next - pos))" >&2; pos=$next; continue; fi
  moved=
  if [ -n "$cur" ]; then
    {
      size=$(wc -c < /dev/fd/4)
      if [ $((cur + size)) -gt "$pos" ]; then
        tail -c +$((pos - cur + 1)) /dev/fd/4 | head -c $((cur + size - pos)) || exit 1
        pos=$((cur + size)); moved=1
      fi
    } 2>/dev/null 4< "$d/$s.$cur"
  fi
  [ -n "$moved" ] && continue
  if [ -e "$d/$s.end" ]; then
    [ "$pos" -ge "$(cat "$d/$s.end")" ] && exit 0
    continue
  fi
  sleep 0.1
done
`;

/** Waits for `$1`'s exit file and prints it (`<code> <reason>`). */
export const WAIT_SCRIPT = `
${FIND_DIRECTORY}
while [ ! -e "$d/exit" ]; do sleep 0.1; done
cat "$d/exit"
`;

/**
 * Kills the tree of `$1` by its marker (`$2` marker entry), records `killed`
 * unless it already ended, waits up to 5 s for the supervisor to record the
 * exit. Exits non-zero when some process survived.
 */
export const KILL_SCRIPT = `
${FIND_DIRECTORY}
[ -e "$d/exit" ] || echo killed > "$d/reason"
sh "$d/kill.sh" "$2"; code=$?
n=0; while [ ! -e "$d/exit" ] && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
exit $code
`;

/** Appends stdin to `$1`'s stdin FIFO. Exit 4: the process ended; 5: its stdin was closed. */
export const STDIN_WRITE_SCRIPT = `
${FIND_DIRECTORY}
[ -e "$d/exit" ] && exit 4
[ -e "$d/in.closed" ] && exit 5
cat > "$d/in"
`;

/** Closes `$1`'s stdin (the holder lets go within 0.2 s). */
export const STDIN_END_SCRIPT = `
${FIND_DIRECTORY}
: > "$d/in.closed"
`;

/**
 * One line per process: `id exit-code-or-- reason-or-- outFirst outEnd
 * errFirst errEnd base64(command)` (the `-` end of a live stream is computed
 * from its last segment).
 */
export const LIST_SCRIPT = `
state() {
  list=$(ls "$d" | sed -n "s/^$1\\.\\([0-9][0-9]*\\)\\$/\\1/p" | sort -n)
  first=$(echo "$list" | head -n 1); last=$(echo "$list" | tail -n 1)
  if [ -e "$d/$1.end" ]; then end=$(cat "$d/$1.end"); else end=0; [ -n "$last" ] && end=$((last + $(wc -c < "$d/$1.$last" 2>/dev/null || echo 0))); fi
  [ -n "$first" ] || first=$end
  printf ' %s %s' "$first" "$end"
}
for root in ${PROCESS_ROOTS.join(" ")}; do
  [ -d "$root" ] || continue
  for d in "$root"/*; do
    [ -f "$d/command" ] || continue
    if [ -e "$d/exit" ]; then set -- $(cat "$d/exit"); code=$1; reason=$2; else code=-; reason=-; fi
    printf '%s %s %s' "\${d##*/}" "$code" "$reason"
    state out; state err
    printf ' %s\\n' "$(base64 < "$d/command" | tr -d '\\n')"
  done
done
`;
