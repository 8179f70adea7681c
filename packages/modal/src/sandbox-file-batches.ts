import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import type { FileOperationError } from "deepagents";
import type { Sandbox } from "modal";

/**
 * Batched uploads: several files written by ONE exec in the sandbox instead
 * of one `sandbox.filesystem.writeBytes` exec per file (each costs a round
 * trip, and Docker runs a container's execs one after the other).
 *
 * The batch only settles what it can settle exactly as `writeBytes` would:
 * a plain new file, or an existing regular file owned by root with one link
 * and no special mode bits (written in place, so it keeps its mode, as
 * `writeBytes` does), a path that is a directory (`is_directory`), a parent
 * that is a regular file (`invalid_path`). Everything else (a symlink as the
 * last component, a FIFO or device, a setgid parent, a file of another owner,
 * a pseudo filesystem, any write the shell could not do) comes back as
 * "not settled", untouched, and the caller writes it with `writeBytes`, so
 * results never differ from the per-file path. Paths go through symlinked
 * directories, `/proc`, `/sys` or `/dev` only per file (the emulator's helper
 * writes those differently), and only a root sandbox user batches (the
 * helper writes as root).
 *
 * Batched downloads likewise: regular files on plain paths (contents),
 * directories (`is_directory`), missing paths under a plain directory or a
 * regular file (`file_not_found`) in one exec; the rest through `readBytes`.
 *
 * Memory and size: at most {@link BATCH_MAX_FILES} files and
 * {@link BATCH_MAX_BYTES} of content per exec, files over
 * {@link BATCH_MAX_FILE_BYTES} per file.
 */

/** Fewest files worth one exec; fewer go through `writeBytes` one by one. */
export const BATCH_MIN_FILES = 3;
/** Most files per exec. */
export const BATCH_MAX_FILES = 256;
/** Most content bytes per exec (bounds what one exec streams). */
export const BATCH_MAX_BYTES = 16 * 1024 * 1024;
/** Larger files keep the per-file path. */
export const BATCH_MAX_FILE_BYTES = 8 * 1024 * 1024;
/** Most argv bytes (the paths) per exec, well under Linux's 128 KiB per argument and 2 MiB in all. */
const BATCH_MAX_ARGV_BYTES = 256 * 1024;
/** The batch exec's own bound; one that takes longer is killed and its files go the per-file way. */
const BATCH_TIMEOUT_MS = 120_000;
/** The trailer the client sends after the last file: the script echoes it, proving it read every byte. */
const TRAILER = "END";

/**
 * Shell functions both scripts use: `plain "$dir"` when a directory is
 * reached without a symbolic link and is not under /proc, /sys or /dev (the
 * last directory found so is remembered in `known`).
 */
const PLAIN_PATH = `physical() { [ "$(cd -P -- "$1" 2>/dev/null && pwd -P)" = "$1" ]; }
plain() {
  [ -n "$1" ] && [ "$1" = "$known" ] && return 0
  case "$1" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) return 1;; esac
  physical "$1" && known=$1
}
known=`;

/**
 * Writes the files given as "$1 $2 $3 $4 ..." = path, byte count, ... from
 * stdin, where their contents follow one another, then the trailer. Prints
 * "<index> <status>" per file (ok, is_directory, invalid_path, or skip: not
 * settled, nothing changed), then "end <trailer>". `dd iflag=fullblock`
 * reads exact counts from a pipe (busybox `head -c` reads ahead).
 * Anything it cannot do prints "unsupported" (or stops short of "end"),
 * after reading its whole stdin.
 */
const WRITE_SCRIPT = `umask 022
drain() { cat >/dev/null 2>&1; }
[ "$(id -u 2>/dev/null)" = 0 ] || { echo unsupported; drain; exit 0; }
[ "$(printf abc | dd bs=3 count=1 iflag=fullblock 2>/dev/null)" = abc ] || { echo unsupported; drain; exit 0; }
take() {
  q=$(($1 / 65536)); r=$(($1 % 65536))
  if [ "$q" -gt 0 ]; then dd bs=65536 count="$q" iflag=fullblock 2>/dev/null || return 1; fi
  if [ "$r" -gt 0 ]; then dd bs="$r" count=1 iflag=fullblock 2>/dev/null || return 1; fi
  return 0
}
${PLAIN_PATH}
i=0
while [ $# -ge 2 ]; do
  p=$1; n=$2; shift 2
  d=\${p%/*}; [ -n "$d" ] || d=/
  st=skip
  if [ -d "$p" ]; then
    if [ ! -L "$p" ] && plain "$p"; then st=is_directory; fi
  elif [ -L "$p" ] || [ -e "$p" ]; then
    if [ -f "$p" ] && [ ! -L "$p" ]; then
      case "$(stat -c '%u:%g %h %a' -- "$p" 2>/dev/null)" in "0:0 1 "[0-7][0-7][0-7]) plain "$d" && st=write;; esac
    fi
  else
    a=$d
    while [ ! -e "$a" ] && [ ! -L "$a" ]; do a=\${a%/*}; [ -n "$a" ] || a=/; done
    if [ -L "$a" ] || [ -g "$a" ]; then st=skip
    elif [ -d "$a" ]; then plain "$a" && st=write
    elif [ -f "$a" ]; then pa=\${a%/*}; [ -n "$pa" ] || pa=/; plain "$pa" && st=invalid_path
    fi
    if [ "$st" = write ] && [ "$a" != "$d" ]; then mkdir -p -- "$d" 2>/dev/null || st=skip; fi
  fi
  if [ "$st" = write ]; then
    if true 2>/dev/null >"$p"; then
      take "$n" >"$p" || { echo "$i abort"; drain; exit 0; }
      st=ok
    else
      st=skip
    fi
  fi
  if [ "$st" != ok ]; then take "$n" >/dev/null || { echo "$i abort"; drain; exit 0; }; fi
  echo "$i $st"
  i=$((i + 1))
done
echo "end $(take ${TRAILER.length})"
drain
`;

/** What the batch did with one file: its per-file result, or `undefined` (not settled: write it per file). */
export type BatchWriteOutcome = FileOperationError | null | undefined;

/** Whether a path can go into a batch: absolute, normalized, not the root, no NUL (anything else: the per-file path decides). */
export function batchablePath(path: string): boolean {
  return path.startsWith("/") && path !== "/" && !path.includes("\0") && posix.normalize(path) === path && !path.endsWith("/");
}

/** Splits the indexes of batchable files into exec-sized groups (input order kept within each). */
export function planWriteBatches(files: ReadonlyArray<readonly [string, Uint8Array]>): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  let argvBytes = 0;
  files.forEach(([path, content], index) => {
    if (!batchablePath(path) || content.byteLength > BATCH_MAX_FILE_BYTES) return;
    const pathBytes = Buffer.byteLength(path) + 16;
    if (
      current.length > 0 &&
      (current.length >= BATCH_MAX_FILES || bytes + content.byteLength > BATCH_MAX_BYTES || argvBytes + pathBytes > BATCH_MAX_ARGV_BYTES)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
      argvBytes = 0;
    }
    current.push(index);
    bytes += content.byteLength;
    argvBytes += pathBytes;
  });
  if (current.length > 0) batches.push(current);
  return batches.filter((batch) => batch.length >= BATCH_MIN_FILES);
}

/**
 * Writes `files` with one exec; one outcome per file, in order. Never
 * throws: when the exec cannot run or its answer is incomplete, the files
 * it does not vouch for come back `undefined`, and writing them per file
 * gives exactly what the per-file path gives (a file it wrote is written again).
 * `options.env`: extra environment of the exec (tests take tools away with it).
 */
export async function writeBatch(
  instance: Sandbox,
  files: ReadonlyArray<readonly [string, Uint8Array]>,
  options: { env?: Record<string, string> } = {},
): Promise<BatchWriteOutcome[]> {
  const outcomes: BatchWriteOutcome[] = files.map(() => undefined);
  const argv = ["sh", "-c", WRITE_SCRIPT, "sandbox-upload"];
  for (const [path, content] of files) argv.push(path, String(content.byteLength));
  let output: string;
  try {
    const process = await instance.exec(argv, {
      mode: "binary",
      stdout: "pipe",
      stderr: "ignore",
      timeoutMs: BATCH_TIMEOUT_MS,
      ...(options.env ? { env: options.env } : {}),
    });
    const feeding = (async () => {
      for (const [, content] of files) if (content.byteLength > 0) await process.stdin.writeBytes(content);
      await process.stdin.writeBytes(new TextEncoder().encode(TRAILER));
      await process.stdin.close();
    })();
    // Handled here too: when reading the answer fails first, the feeding's own failure must not go unhandled (it would end the host process).
    feeding.catch(() => undefined);
    const [bytes] = await Promise.all([process.stdout.readBytes(), process.wait(), feeding]);
    output = new TextDecoder().decode(bytes);
  } catch {
    return outcomes;
  }
  const lines = output.split("\n");
  // Without the echoed trailer the script did not read every byte it was sent: vouch for nothing.
  if (!lines.includes(`end ${TRAILER}`)) return outcomes;
  for (const line of lines) {
    const match = /^(\d+) (ok|is_directory|invalid_path)$/.exec(line);
    if (!match) continue;
    const index = Number(match[1]);
    if (index >= files.length) continue;
    outcomes[index] = match[2] === "ok" ? null : (match[2] as FileOperationError);
  }
  return outcomes;
}

/**
 * Reads the files given as "$2 $3 ..." ("$1": a random token). Prints one
 * header line per path, in order: "<index> <status>" (is_directory,
 * file_not_found, skip: not settled) or "<index> ok <size>"; then
 * "data <token>", the contents of the ok files one after the other (one
 * `cat`: forks are what a batch costs), and "\n<token> ok" when every one of
 * them still has the size it had ("\n<token> changed" otherwise: then none
 * is trusted); then "end <token>". A file over the per-file limit, or past
 * the batch's byte budget, is skipped. A regular file on a plain path
 * (no symlink, not under /proc, /sys, /dev) only.
 */
const READ_SCRIPT = `[ "$(id -u 2>/dev/null)" = 0 ] || { echo unsupported; exit 0; }
${PLAIN_PATH}
token=$1; shift
count=$#
i=0
wanted=
for p in "$@"; do
  st=skip
  d=\${p%/*}; [ -n "$d" ] || d=/
  if [ -L "$p" ]; then st=skip
  elif [ -d "$p" ]; then plain "$p" && st=is_directory
  elif [ -f "$p" ]; then
    if plain "$d"; then st=maybe; set -- "$@" "$p"; wanted="$wanted $i"; fi
  elif [ ! -e "$p" ]; then
    a=$d
    while [ ! -e "$a" ] && [ ! -L "$a" ]; do a=\${a%/*}; [ -n "$a" ] || a=/; done
    pa=\${a%/*}; [ -n "$pa" ] || pa=/
    if [ -L "$a" ]; then st=skip
    elif [ -d "$a" ]; then plain "$a" && st=file_not_found
    elif [ -f "$a" ]; then plain "$pa" && st=file_not_found
    fi
  fi
  eval "st_$i=\\$st"
  i=$((i + 1))
done
shift "$count"
sizes=
if [ $# -gt 0 ]; then
  # One size per file, or none at all: stat fails when any of them is gone.
  sizes=$(stat -c %s -- "$@" 2>/dev/null) || sizes=
fi
budget=${BATCH_MAX_BYTES}
kept=
n=$#
for p in "$@"; do
  i=\${wanted# }; i=\${i%% *}; wanted=\${wanted# }; wanted=\${wanted#"$i"}
  s=
  if [ -n "$sizes" ]; then s=\${sizes%%"
"*}; sizes=\${sizes#"$s"}; sizes=\${sizes#"
"}; fi
  case "$s" in ""|*[!0-9]*) s=;; esac
  if [ -n "$s" ] && [ "$s" -le ${BATCH_MAX_FILE_BYTES} ] && [ "$s" -le "$budget" ]; then
    budget=$((budget - s)); kept="$kept$s
"; set -- "$@" "$p"; eval "st_$i=\\"ok \\$s\\""
  else
    eval "st_$i=skip"
  fi
done
shift "$n"
i=0
while [ "$i" -lt "$count" ]; do eval "echo \\"$i \\$st_$i\\""; i=$((i + 1)); done
echo "data $token"
if [ $# -gt 0 ]; then
  cat -- "$@" 2>/dev/null
  after=$(stat -c %s -- "$@" 2>/dev/null)
  if [ "$after
" = "$kept" ]; then printf '\\n%s ok\\n' "$token"; else printf '\\n%s changed\\n' "$token"; fi
else
  printf '\\n%s ok\\n' "$token"
fi
echo "end $token"
`;

/** What the batch read of one file gave: its per-file result, or `undefined` (not settled: read it per file). */
export type BatchReadOutcome = { content: Uint8Array; error: null } | { content: null; error: FileOperationError } | undefined;

/** Splits the indexes of batchable paths into exec-sized groups (the script keeps each exec's bytes bounded). */
export function planReadBatches(paths: readonly string[]): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let argvBytes = 0;
  paths.forEach((path, index) => {
    if (!batchablePath(path)) return;
    const pathBytes = Buffer.byteLength(path) + 8;
    if (current.length > 0 && (current.length >= BATCH_MAX_FILES || argvBytes + pathBytes > BATCH_MAX_ARGV_BYTES)) {
      batches.push(current);
      current = [];
      argvBytes = 0;
    }
    current.push(index);
    argvBytes += pathBytes;
  });
  if (current.length > 0) batches.push(current);
  return batches.filter((batch) => batch.length >= BATCH_MIN_FILES);
}

/**
 * Reads `paths` with one exec; one outcome per path, in order. Never throws:
 * what the exec does not vouch for comes back `undefined`, to be read per
 * file (all of the contents, when a file changed size while it was read).
 */
export async function readBatch(instance: Sandbox, paths: readonly string[], options: { env?: Record<string, string> } = {}): Promise<BatchReadOutcome[]> {
  const outcomes: BatchReadOutcome[] = paths.map(() => undefined);
  const token = randomBytes(16).toString("hex");
  let output: Buffer;
  try {
    const process = await instance.exec(["sh", "-c", READ_SCRIPT, "sandbox-download", token, ...paths], {
      mode: "binary",
      stdout: "pipe",
      stderr: "ignore",
      timeoutMs: BATCH_TIMEOUT_MS,
      ...(options.env ? { env: options.env } : {}),
    });
    const [bytes] = await Promise.all([process.stdout.readBytes(), process.wait()]);
    output = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch {
    return outcomes;
  }
  return parseReadOutput(output, token, paths.length);
}

/**
 * What the read script's output says, per path (`count` of them); anything
 * out of place (no end line, a header missing, the contents not followed by
 * the token right where their sizes end, a size that moved) settles nothing
 * it would have vouched for.
 */
export function parseReadOutput(output: Buffer, token: string, count: number): BatchReadOutcome[] {
  const none: BatchReadOutcome[] = Array.from({ length: count }, () => undefined);
  // Without the end line the answer is cut short: vouch for nothing.
  const end = Buffer.from(`end ${token}\n`);
  if (!output.subarray(-end.length).equals(end)) return none;
  const settled: BatchReadOutcome[] = Array.from({ length: count }, () => undefined);
  const sizes: Array<[number, number]> = [];
  let at = 0;
  const line = (): string | undefined => {
    const newline = output.indexOf(10, at);
    if (newline < 0) return undefined;
    const text = output.subarray(at, newline).toString("latin1");
    at = newline + 1;
    return text;
  };
  for (let expected = 0; expected < count; expected++) {
    const header = line()?.split(" ");
    if (!header || header[0] !== String(expected)) return none;
    const status = header[1];
    if (status === "is_directory" || status === "file_not_found") settled[expected] = { content: null, error: status };
    else if (status === "ok" && /^\d+$/.test(header[2] ?? "")) sizes.push([expected, Number(header[2])]);
    else if (status !== "skip") return none;
  }
  if (line() !== `data ${token}`) return none;
  const contents: Array<[number, Uint8Array]> = [];
  for (const [index, size] of sizes) {
    // Copied out, so the whole output is not kept alive by one small file.
    contents.push([index, Uint8Array.from(output.subarray(at, at + size))]);
    at += size;
  }
  // The token right after the contents, and every size unchanged: the framing held.
  const trailer = Buffer.from(`\n${token} ok\n`);
  if (at + trailer.length + end.length === output.length && output.subarray(at, at + trailer.length).equals(trailer)) {
    for (const [index, content] of contents) settled[index] = { content, error: null };
  }
  return settled;
}
