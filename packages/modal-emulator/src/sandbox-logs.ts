import { StringDecoder } from "node:string_decoder";
import { FileDescriptor } from "./protocol-values.js";

/** Most entries a sandbox's log keeps; older ones are dropped (Modal keeps logs for days, the emulator for its lifetime). */
export const MAX_SANDBOX_LOG_ENTRIES = 20_000;

/** One entry of a sandbox's entrypoint log: a chunk of output as it was written. */
export interface SandboxLogEntry {
  /** When the chunk arrived, nanoseconds since the epoch. */
  atNs: bigint;
  fileDescriptor: typeof FileDescriptor.stdout | typeof FileDescriptor.stderr;
  data: string;
}

/** The filters of `AppFetchLogs` / `AppCountLogs` that apply to a sandbox's entries. */
export interface SandboxLogFilter {
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  /** 0 (unspecified): every source. */
  fileDescriptor?: number | undefined;
  searchText?: string | undefined;
}

/**
 * A sandbox's entrypoint output as timestamped entries: what `sandbox.logs`
 * (`AppFetchLogs`, `AppCountLogs`) reads, besides the live streams.
 */
export class SandboxLog {
  readonly #entries: SandboxLogEntry[] = [];
  readonly #decoders = { [FileDescriptor.stdout]: new StringDecoder("utf8"), [FileDescriptor.stderr]: new StringDecoder("utf8") };

  record(fileDescriptor: SandboxLogEntry["fileDescriptor"], chunk: Buffer): void {
    const data = this.#decoders[fileDescriptor].write(chunk);
    if (data === "") return;
    // Strictly increasing, so entries of one millisecond keep their order and a limit cuts between them.
    const last = this.#entries.at(-1)?.atNs ?? 0n;
    const now = BigInt(Date.now()) * 1_000_000n;
    this.#entries.push({ atNs: now > last ? now : last + 1n, fileDescriptor, data });
    if (this.#entries.length > MAX_SANDBOX_LOG_ENTRIES) this.#entries.splice(0, this.#entries.length - MAX_SANDBOX_LOG_ENTRIES);
  }

  /** Entries matching `filter`, oldest first. */
  entries(filter: SandboxLogFilter): SandboxLogEntry[] {
    const since = filter.sinceMs === undefined ? undefined : BigInt(Math.floor(filter.sinceMs)) * 1_000_000n;
    const until = filter.untilMs === undefined ? undefined : BigInt(Math.floor(filter.untilMs)) * 1_000_000n;
    return this.#entries.filter(
      (entry) =>
        (since === undefined || entry.atNs >= since) &&
        (until === undefined || entry.atNs < until) &&
        (!filter.fileDescriptor || entry.fileDescriptor === filter.fileDescriptor) &&
        (!filter.searchText || entry.data.includes(filter.searchText)),
    );
  }
}
