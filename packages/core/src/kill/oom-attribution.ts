/**
 * Attributing an out-of-memory kill to the command that suffered it.
 *
 * A command killed by the kernel's OOM killer exits 137, exactly like one that
 * ran `kill -9 $$`. The sandbox cgroup's `oom_kill` counter tells them apart,
 * but only as a delta around that one command: an earlier command may have
 * had a pipeline member or a background child OOM-killed without exiting 137
 * itself, and a counter compared with "the last time we looked" would then
 * blame the next plain exit 137 on memory.
 *
 * Cost: the baseline is read inside the command's own exec, by shell
 * builtins only (no extra process, no extra round trip), and printed as the
 * first line of stderr, which the adapter strips before anyone sees it. A
 * second read, by one more exec, happens only when the command exits 137.
 */

import { CWD_PROBLEM_TAG, type CwdProblem, parseCwdProblem } from "../adapter/command-cwd.js";

/** Start of the line the baseline prefix prints on stderr (a control byte no program prints by accident). */
export const OOM_BASELINE_TAG = "\u0001sandbox-oom-baseline:";

/** The cgroup files (v2, then v1) holding an `oom_kill N` line. */
const OOM_COUNTER_FILES = ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"];

/**
 * A single shell line (ending in `; `) that prints the current OOM-kill
 * counter and the shell's pid as `<tag><n> <pid>\n` on stderr (`<n>` empty
 * when no counter is readable)
 * using builtins only, and leaves no variable behind. Put it before the
 * command in the same `sh -c` script: it stays on line 1, so the command's
 * own error messages keep their line numbers.
 */
export const OOM_BASELINE_PREFIX =
  `__sbx_f=${OOM_COUNTER_FILES[0]}; [ -r "$__sbx_f" ] || __sbx_f=${OOM_COUNTER_FILES[1]}; __sbx_o=; ` +
  `while read -r __sbx_k __sbx_v; do [ "$__sbx_k" = oom_kill ] && __sbx_o=$__sbx_v; done 2>/dev/null <"$__sbx_f"; ` +
  `printf '\\001sandbox-oom-baseline:%s %s\\n' "$__sbx_o" "$$" >&2; unset __sbx_f __sbx_k __sbx_v __sbx_o; `;

/** A command (run by its own `sh -c`) that prints the counter file(s); parse with {@link parseOomKillCount}. */
export const READ_OOM_KILL_COUNT_COMMAND = `cat ${OOM_COUNTER_FILES.join(" ")} 2>/dev/null`;

/** The `oom_kill` count in a cgroup memory file's text, or undefined. */
export function parseOomKillCount(text: string): number | undefined {
  const match = /(?:^|\n)oom_kill (\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** At most this many bytes are held back while looking for the baseline line. */
const MAX_BASELINE_LINE_BYTES = 128;

/** What both tagged first lines (the OOM baseline's and the cwd prefix's) start with. */
const TAGGED_LINE_START = "\u0001sandbox-";

/**
 * Wraps a stderr sink: takes the baseline line off the front of the stream
 * and passes everything else through unchanged. When the stream does not
 * start with the tag (the prefix did not run), nothing is removed.
 *
 * The first line may instead be the cwd prefix's (`ENTER_CWD_PREFIX`, which
 * runs first): then {@link cwdProblem} says why the cwd could not be entered,
 * and the line is taken off too.
 */
export class OomBaselineReader {
  /** The counter before the command; undefined when unreadable or not (yet) seen. */
  baseline: number | undefined;
  /**
   * The pid of the command's shell inside the sandbox. A `docker exec`ed
   * process leads its own session and process group, so this is also the
   * process group of the whole command tree (see `KILL_BY_MARKER_SCRIPT`).
   */
  processGroup: number | undefined;
  /** Set when the command's cwd could not be entered (the command did not run). */
  cwdProblem: CwdProblem | undefined;
  #pending: Uint8Array | undefined = new Uint8Array(0);
  readonly #sink: (chunk: Uint8Array) => void;
  static readonly #tag = new TextEncoder().encode(TAGGED_LINE_START);

  constructor(sink: (chunk: Uint8Array) => void) {
    this.#sink = sink;
  }

  /** Feed one stderr chunk. */
  readonly push = (chunk: Uint8Array): void => {
    if (this.#pending === undefined) {
      this.#sink(chunk);
      return;
    }
    const joined = new Uint8Array(this.#pending.byteLength + chunk.byteLength);
    joined.set(this.#pending, 0);
    joined.set(chunk, this.#pending.byteLength);
    const tag = OomBaselineReader.#tag;
    const compared = Math.min(joined.byteLength, tag.byteLength);
    for (let index = 0; index < compared; index += 1) {
      if (joined[index] !== tag[index]) {
        this.#release(joined);
        return;
      }
    }
    const newline = joined.indexOf(10, tag.byteLength);
    if (newline === -1) {
      if (joined.byteLength > MAX_BASELINE_LINE_BYTES) {
        this.#release(joined);
        return;
      }
      this.#pending = joined;
      return;
    }
    const line = new TextDecoder().decode(joined.subarray(0, newline));
    if (line.startsWith(CWD_PROBLEM_TAG)) {
      this.cwdProblem = parseCwdProblem(line.slice(CWD_PROBLEM_TAG.length));
      if (this.cwdProblem === undefined) {
        this.#release(joined);
        return;
      }
    } else if (line.startsWith(OOM_BASELINE_TAG)) {
      const [count = "", pid = ""] = line.slice(OOM_BASELINE_TAG.length).split(" ");
      this.baseline = /^\d+$/.test(count) ? Number(count) : undefined;
      this.processGroup = /^[1-9]\d*$/.test(pid) ? Number(pid) : undefined;
    } else {
      this.#release(joined);
      return;
    }
    this.#pending = undefined;
    if (newline + 1 < joined.byteLength) this.#sink(joined.subarray(newline + 1));
  };

  /** Call when stderr has ended: releases anything still held back. */
  end(): void {
    if (this.#pending && this.#pending.byteLength > 0) this.#sink(this.#pending);
    this.#pending = undefined;
  }

  #release(bytes: Uint8Array): void {
    this.#pending = undefined;
    if (bytes.byteLength > 0) this.#sink(bytes);
  }
}

/**
 * Whether a command that exited 137 was OOM-killed: the counter read after
 * it (`after`) exceeds the one its own prefix printed (`baseline`). Unknown
 * on either side means no: a plain exit 137 is never turned into an error on
 * a guess.
 */
export function oomKilledDuring(baseline: number | undefined, after: number | undefined): boolean {
  return baseline !== undefined && after !== undefined && after > baseline;
}
