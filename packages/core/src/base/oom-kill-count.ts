/**
 * A POSIX `sh` command printing the sandbox cgroup's memory events: cgroup v2
 * `memory.events` or v1 `memory.oom_control`, whichever exists. Adapters run
 * it after an exit code 137 to tell an out-of-memory kill from another SIGKILL.
 */
export const OOM_KILL_COUNT_COMMAND = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null";

/** The `oom_kill N` counter in the output of {@link OOM_KILL_COUNT_COMMAND}; `undefined` when absent. */
export function parseOomKillCount(text: string): number | undefined {
  const match = /oom_kill (\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}
