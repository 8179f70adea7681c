import { BaseSandbox, type FileDownloadResponse, type ReadResult } from "deepagents";
import { shellQuote } from "./shell-quote.js";

/**
 * `read` for the deepagents file tools from a file an adapter read itself
 * (e.g. local-docker's command agent, one message each way instead of a
 * shell and `awk`): the bytes deepagents' read command would have printed
 * are made here from the file, and deepagents' own `BaseSandbox.read`
 * parses them, so numbering, pagination, the empty-file reminder, the
 * not-found error and the cut at the output cap are its own.
 */

/** What an adapter read for {@link readResultOfFile}: the file's bytes, or that `[ -f ]` fails for the path (nothing there, a directory, a FIFO...). */
export type FileForRead = { content: Uint8Array; bytesAsText: boolean } | { missing: true };

const READ_METADATA_PREFIX = "__DEEPAGENTS_READ_METADATA__";
const MAX_READ_LIMIT = 999_999_999;

/**
 * Offset and limit as deepagents (1.14) normalizes them before building the
 * read command. Kept here, not imported: older deepagents of the peer range
 * do not export it. Where a version normalizes otherwise, its command differs
 * from {@link readCommand} and the command answers.
 */
function normalizeReadPagination(offset: number, limit: number): { offset: number; limit: number } {
  return {
    offset: Number.isFinite(offset) ? Math.max(0, Math.floor(offset)) : 0,
    limit: Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0,
  };
}

/** The window deepagents' read command prints: lines `start` to `end` (1-based, inclusive), from normalized pagination. */
function window(offset: number, limit: number): { start: number; end: number } {
  const safeOffset = Number.isFinite(offset) && offset > 0 ? Math.floor(offset) : 0;
  const safeLimit = Number.isFinite(limit) && limit > 0 ? Math.min(Math.floor(limit), MAX_READ_LIMIT) : MAX_READ_LIMIT;
  return { start: safeOffset + 1, end: safeOffset + safeLimit };
}

/** The command deepagents' `BaseSandbox.read` runs for a text file (offset and limit as it normalizes them). */
export function readCommand(filePath: string, offset: number, limit: number): string {
  const quoted = shellQuote(filePath);
  const { start, end } = window(offset, limit);
  return [
    `if [ ! -f ${quoted} ]; then echo "Error: File not found"; exit 1; fi`,
    `if [ ! -s ${quoted} ]; then echo "System reminder: File exists but has empty contents"; exit 0; fi`,
    `awk 'NR >= ${start} && NR <= ${end} { printf "%6d\\t%s\\n", NR, $0 } END { printf "${READ_METADATA_PREFIX}\\t%d\\n", NR }' ${quoted}`,
  ].join("; ");
}

const encoder = new TextEncoder();

/**
 * What the read command prints for `file` (exit code and stdout bytes), or
 * undefined where `awk` could print it otherwise: a NUL byte (awks differ),
 * a byte over 0x7f to an awk that may read the text as characters.
 */
function commandOutput(file: FileForRead, start: number, end: number): { exitCode: number; bytes: Uint8Array } | undefined {
  if ("missing" in file) return { exitCode: 1, bytes: encoder.encode("Error: File not found\n") };
  const content = file.content;
  if (content.byteLength === 0) return { exitCode: 0, bytes: encoder.encode("System reminder: File exists but has empty contents\n") };
  if (content.includes(0) || (!file.bytesAsText && content.some((byte) => byte > 0x7f))) return undefined;
  const chunks: Uint8Array[] = [];
  let records = 0;
  let at = 0;
  while (at < content.byteLength) {
    const newline = content.indexOf(0x0a, at);
    const stop = newline === -1 ? content.byteLength : newline;
    records += 1;
    if (records >= start && records <= end) {
      chunks.push(encoder.encode(`${String(records).padStart(6)}\t`), content.subarray(at, stop), encoder.encode("\n"));
    }
    at = stop + 1;
  }
  chunks.push(encoder.encode(`${READ_METADATA_PREFIX}\t${records}\n`));
  const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { exitCode: 0, bytes };
}

/**
 * `BaseSandbox.read`'s answer for `file`, its command's output cut at
 * `maxOutputBytes` as `execute` cuts it; or undefined when the caller should
 * run `BaseSandbox.read` itself (this deepagents runs another command, or
 * `awk` could print the file otherwise). `downloadFiles` serves the
 * non-text files `BaseSandbox.read` downloads instead.
 */
export async function readResultOfFile(
  file: FileForRead,
  filePath: string,
  offset: number,
  limit: number,
  maxOutputBytes: number,
  downloadFiles: (paths: string[]) => Promise<FileDownloadResponse[]>,
): Promise<ReadResult | undefined> {
  const paging = normalizeReadPagination(offset, limit);
  const expected = readCommand(filePath, paging.offset, paging.limit);
  const { start, end } = window(paging.offset, paging.limit);
  let answered = true;
  const standIn = {
    downloadFiles,
    execute: async (command: string) => {
      const printed = command === expected ? commandOutput(file, start, end) : undefined;
      if (printed === undefined) {
        answered = false;
        return { output: "", exitCode: 1, truncated: false };
      }
      const kept = printed.bytes.subarray(0, maxOutputBytes);
      return {
        output: new TextDecoder("utf-8", { fatal: false }).decode(kept),
        exitCode: printed.exitCode,
        truncated: printed.bytes.byteLength > maxOutputBytes,
      };
    },
  };
  const result = await (BaseSandbox.prototype.read as (this: unknown, ...args: unknown[]) => Promise<ReadResult>).call(standIn, filePath, offset, limit);
  return answered ? result : undefined;
}
