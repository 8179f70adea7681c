import type { FileInfo, GlobResult, LsResult } from "deepagents";
import { shellQuote } from "./shell-quote.js";

/**
 * `ls` and `glob` for the deepagents file tools: the same entries, fields
 * and order as deepagents' `BaseSandbox`, in one `find` and a few processes
 * instead of several per entry.
 *
 * Why: where `find` has no `-printf` (BusyBox: Alpine and the offline
 * images), `BaseSandbox` runs a shell loop that forks `stat` twice per
 * entry, so `ls` of 75 files takes ~0.4 s and `glob` over 3000 files ~12 s.
 * Here `stat` runs once per batch of paths (`-exec ... {} +`): once for the
 * entry's own size and time (as `BaseSandbox` reads them, a symlink's own),
 * and once following symlinks for whether it is a directory (`BaseSandbox`'s
 * `[ -d ]`). With GNU `find` it prints the same `-printf` line as
 * `BaseSandbox`.
 *
 * `glob` also narrows what is stat'ed by the pattern's last segment when it
 * can (`find -name`, looser than the pattern, so it only drops entries the
 * pattern cannot match) and counts the rest. Where the answer could differ
 * from `BaseSandbox`'s (its 50 000-line cap or the output cap could have cut
 * its listing; the listing did not run, e.g. no `awk`), the caller runs
 * `BaseSandbox`'s own implementation instead.
 */

/** Lines of listing `BaseSandbox.glob` keeps before it cuts (and reports truncated). */
export const MAX_GLOB_LISTING_LINES = 50_000;

/** Most bytes one listing line of `BaseSandbox` takes besides its path (size, fractional time, type, three tabs, newline). */
const MAX_LINE_OVERHEAD_BYTES = 46;

const ENTRY = "\u0001";
const TYPE = "\u0002";
const TRAILER = "\u0003";

/**
 * The command listing what `find` selects with `select` (an expression that
 * may be empty), one `ENTRY` line `size\tmtime\ttype\tpath` per selected entry
 * (type `?` on BusyBox, where a `TYPE` line `kind\tpath` per entry says what
 * it leads to), and for every other entry its path alone, for counting.
 */
function listingCommand(findBase: string, select: string, counted?: string): string {
  // No parentheses around `-exec ... {} +`: BusyBox 1.35 find never runs it there.
  const chosen = select === "" ? "" : `${select} `;
  const others = counted === undefined ? "" : ` -o ${counted} -print`;
  const gnu = `${findBase} ${chosen}-printf '${ENTRY}%s\\t%T@\\t%y\\t%p\\n'${others}`;
  const busybox = `${findBase} ${chosen}-exec stat -c '${ENTRY}%s\t%Y\t?\t%n' {} + -exec stat -L -c '${TYPE}%F\t%n' {} +${others}`;
  return `if find /dev/null -maxdepth 0 -printf '' 2>/dev/null; then ${gnu}; else ${busybox}; fi`;
}

/** `ls`: the entries of one directory, then a trailer line saying the listing ran. */
export function lsCommand(directory: string): string {
  const quoted = shellQuote(directory);
  return `{ ${listingCommand(`find -L ${quoted} -maxdepth 1 -not -path ${quoted}`, "")}; printf '${TRAILER}\\n'; } 2>/dev/null`;
}

/**
 * A `find -name` pattern every entry matching `pattern` (as deepagents'
 * `globToPathRegex` reads it) has as its base name, or undefined when the
 * pattern's last segment allows no such filter (it holds `**`, a character
 * class or a backslash, or would select everything). `?` and non-ASCII
 * characters become `*`: `find` counts bytes, the regular expression UTF-16
 * units.
 */
export function baseNameFilter(pattern: string): string | undefined {
  const segment = pattern.slice(pattern.lastIndexOf("/") + 1);
  if (segment === "" || segment.includes("**") || /[[\]\\]/.test(segment)) return undefined;
  const loose = segment.replace(/[?]|[^\x20-\x7e]/g, "*").replace(/\*+/g, "*");
  return loose === "*" ? undefined : loose;
}

/**
 * `glob`: the entries under `root` (pseudo-filesystems pruned, as
 * `BaseSandbox` does) whose base name passes `filter`; the others are
 * counted. The trailer line carries the count of all listing lines and an
 * upper bound of the bytes `BaseSandbox`'s listing would have taken.
 */
export function globCommand(root: string, filter: string | undefined): string {
  const quoted = shellQuote(root);
  const pruned = ["/proc", "/sys", "/dev", "/run", `${quoted}/proc`, `${quoted}/sys`, `${quoted}/dev`, `${quoted}/run`]
    .map((path) => `-path ${path}`)
    .join(" -o ");
  const findBase = `find -L ${quoted} \\( ${pruned} \\) -prune -o -not -path ${quoted}`;
  const select = filter === undefined ? "" : `-name ${shellQuote(filter)}`;
  // awk passes the entry and type lines on, and counts the lines BaseSandbox would have had (one per entry), with their length.
  const count = `awk 'BEGIN { n = 0; b = 0 } /^${TYPE}/ { print; next } { n++; b += length($0) + ${MAX_LINE_OVERHEAD_BYTES} } /^${ENTRY}/ { print } END { printf "${TRAILER}%d\\t%d\\n", n, b }'`;
  return `{ ${listingCommand(findBase, select, `-not -path ${quoted}`)}; } 2>/dev/null | ${count}`;
}

interface Listing {
  entries: FileInfo[];
  /** The trailer: how many lines and bytes (at most) `BaseSandbox`'s listing would have had; undefined when missing. */
  trailer: { lines: number; bytes: number } | undefined;
}

/** Entries of a listing's output, in order, with `BaseSandbox`'s fields. */
function parseListing(output: string, relativeTo?: string): Listing {
  const kinds = new Map<string, string>();
  const lines = output.split("\n");
  let trailer: Listing["trailer"];
  for (const line of lines) {
    if (line.startsWith(TYPE)) {
      const tab = line.indexOf("\t");
      if (tab > 0) kinds.set(line.slice(tab + 1), line.slice(1, tab));
    } else if (line.startsWith(TRAILER)) {
      const [count, bytes] = line.slice(1).split("\t");
      trailer = { lines: Number(count ?? 0) || 0, bytes: Number(bytes ?? 0) || 0 };
    }
  }
  const entries: FileInfo[] = [];
  for (const line of lines) {
    if (!line.startsWith(ENTRY)) continue;
    const fields = line.slice(1).split("\t");
    if (fields.length < 4) continue;
    const size = Number.parseInt(fields[0]!, 10);
    const mtime = Number.parseInt(fields[1]!, 10);
    if (Number.isNaN(size) || Number.isNaN(mtime)) continue;
    const path = fields.slice(3).join("\t");
    const type = fields[2]!;
    const isDir = type === "?" ? kinds.get(path) === "directory" : type.startsWith("d");
    const modified_at = new Date(mtime * 1000).toISOString();
    if (relativeTo === undefined) {
      entries.push({ path: isDir ? `${path}/` : path, is_dir: isDir, size, modified_at });
    } else {
      const relative = path.startsWith(`${relativeTo}/`) ? path.slice(relativeTo.length + 1) : path;
      entries.push({ path: relative, is_dir: isDir, size, modified_at });
    }
  }
  return { entries, trailer };
}

/** The `ls` answer for lines `size\tmtime\ttype\tpath` (an agent's listing, without the entry mark). */
export function lsResultOfLines(lines: string): LsResult {
  return {
    files: parseListing(
      lines
        .split("\n")
        .filter(Boolean)
        .map((line) => `${ENTRY}${line}`)
        .join("\n"),
    ).entries,
  };
}

/** The same lines with the entry mark (the trailer keeps its own). */
function marked(lines: string): string {
  return lines
    .split("\n")
    .filter(Boolean)
    .map((line) => (line.startsWith(TRAILER) ? line : `${ENTRY}${line}`))
    .join("\n");
}

/** The `glob` answer for an adapter's own tree listing (lines `size\tmtime\ttype\tpath`, then the trailer), or undefined as {@link globResultOf}. */
export function globResultOfLines(lines: string, pattern: string, root: string, maxOutputBytes: number): GlobResult | undefined {
  return globResultOf({ output: marked(lines), truncated: false }, pattern, root, maxOutputBytes);
}

/** The `ls` answer, or undefined when the listing did not run to its end (the caller asks `BaseSandbox`). */
export function lsResultOf(result: { output: string; truncated: boolean }): LsResult | undefined {
  if (result.truncated) return undefined;
  const { entries, trailer } = parseListing(result.output);
  return trailer === undefined ? undefined : { files: entries };
}

/**
 * A glob pattern as a regular expression over paths relative to the root,
 * exactly as deepagents' `globToPathRegex` builds it: `**` followed by `/`
 * matches any leading directories (or none), `**` otherwise anything, `*`
 * anything but `/`, `?` one character but `/`, `[...]` a class as written;
 * `.+^${}()|\` stand for themselves, everything else is copied.
 */
export function globPattern(pattern: string): RegExp {
  let source = "^";
  for (let index = 0; index < pattern.length; ) {
    const char = pattern[index]!;
    if (char === "*" && pattern[index + 1] === "*") {
      const slash = pattern[index + 2] === "/";
      source += slash ? "(.*/)?" : ".*";
      index += slash ? 3 : 2;
    } else if (char === "*") {
      source += "[^/]*";
      index += 1;
    } else if (char === "?") {
      source += "[^/]";
      index += 1;
    } else if (char === "[") {
      const close = pattern.indexOf("]", index + 1);
      const end = close === -1 ? pattern.length : close + 1;
      source += pattern.slice(index, end);
      index = end;
    } else {
      source += ".+^${}()|\\".includes(char) ? `\\${char}` : char;
      index += 1;
    }
  }
  return new RegExp(`${source}$`);
}

/**
 * The `glob` answer, or undefined when it could differ from `BaseSandbox`'s
 * (the caller asks `BaseSandbox`): the listing did not run to its end, or
 * `BaseSandbox`'s would have been cut by its line cap or by `maxOutputBytes`.
 */
export function globResultOf(result: { output: string; truncated: boolean }, pattern: string, root: string, maxOutputBytes: number): GlobResult | undefined {
  if (result.truncated) return undefined;
  const base = root.endsWith("/") ? root.slice(0, -1) : root;
  const { entries, trailer } = parseListing(result.output, base);
  if (trailer === undefined || trailer.lines > MAX_GLOB_LISTING_LINES || trailer.bytes >= maxOutputBytes) return undefined;
  const regex = globPattern(pattern);
  return { files: entries.filter((entry) => regex.test(entry.path)), truncated: false };
}
