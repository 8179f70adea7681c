import { randomBytes } from "node:crypto";
import type { ProcessInfo } from "../contract/process-handle.js";

/**
 * Provider-neutral helpers around the process scripts
 * (`process-scripts.ts`): ids, the marker every process of a tree inherits,
 * and parsing what `LIST_SCRIPT` prints.
 */

/** A new process id: sortable by start time, unique in practice, safe in a path and a shell word. */
export function newProcessId(): string {
  return `p-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
}

/**
 * The environment entry (`NAME=value`) every process of the tree of `id`
 * inherits, so `KILL_BY_MARKER_SCRIPT` finds the whole tree. `variable` is
 * the adapter's marker variable.
 */
export function processMarker(variable: string, id: string): string {
  return `${variable}=process-${id}`;
}

/** Tenths of a second for the supervisor's `$2` (empty: no timeout). */
export function timeoutTenths(timeoutMs: number | undefined): string {
  return timeoutMs === undefined ? "" : String(Math.ceil(timeoutMs / 100));
}

/** Parses the lines `LIST_SCRIPT` prints into {@link ProcessInfo} records; malformed lines are skipped. */
export function parseProcessList(output: string): ProcessInfo[] {
  const processes: ProcessInfo[] = [];
  for (const line of output.split("\n")) {
    const fields = line.trim().split(" ");
    if (fields.length < 8) continue;
    const [id, code, reason, outFirst, outEnd, errFirst, errEnd, command] = fields as [string, string, string, string, string, string, string, string];
    const ended = code !== "-";
    processes.push({
      id,
      command: Buffer.from(command, "base64").toString("utf8"),
      running: !ended,
      exitCode: ended && reason === "exited" ? Number(code) : null,
      stdout: { firstOffset: Number(outFirst), endOffset: Number(outEnd) },
      stderr: { firstOffset: Number(errFirst), endOffset: Number(errEnd) },
    });
  }
  return processes;
}

/** How `WAIT_SCRIPT`'s `<code> <reason>` line ends a process; undefined when the line is malformed. */
export function parseProcessExit(line: string): { exitCode: number | null; reason: "exited" | "killed" | "timeout" } | undefined {
  const [code, reason] = line.trim().split(" ");
  if (code === undefined || code === "") return undefined;
  const ending = reason === "killed" || reason === "timeout" ? reason : "exited";
  return { exitCode: ending === "exited" ? Number(code) : null, reason: ending };
}

/**
 * Parses `dropped <n>` lines (what `READ_SCRIPT` reports on stderr) out of
 * `pending` text: calls `dropped` for each and returns the unfinished rest.
 */
export function takeDroppedNotes(pending: string, dropped: (bytes: number) => void): string {
  let rest = pending;
  let newline = rest.indexOf("\n");
  while (newline >= 0) {
    const match = /^dropped (\d+)$/.exec(rest.slice(0, newline).trim());
    if (match) dropped(Number(match[1]));
    rest = rest.slice(newline + 1);
    newline = rest.indexOf("\n");
  }
  return rest;
}
