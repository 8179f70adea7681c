import type { ControlPlaneRequest } from "./modal-sdk-definitions.js";
import type { SandboxFamily } from "./sandbox-record.js";

/** Most entries each inspection log keeps; older ones are dropped so a long-running emulator stays bounded. */
export const INSPECTION_LOG_LIMIT = 10_000;

/** Appends to an inspection log, dropping the oldest entry past the limit. */
export function appendBounded<Entry>(log: Entry[], entry: Entry): void {
  log.push(entry);
  if (log.length > INSPECTION_LOG_LIMIT) log.splice(0, log.length - INSPECTION_LOG_LIMIT);
}

/** A create request as the emulator received it, for tests to assert on. */
export interface RecordedSandboxCreate {
  family: SandboxFamily;
  /** The decoded request message (`SandboxCreateRequest` or `SandboxCreateV2Request`). */
  request: ControlPlaneRequest<"sandboxCreate"> | ControlPlaneRequest<"sandboxCreateV2">;
  /** The id minted for it, when the create succeeded. */
  sandboxId?: string;
  /** Why it was refused, when it was. */
  refusedReason?: string;
  atMs: number;
}

/** An exec start as received, for inspection. */
export interface RecordedExecStart {
  taskId: string;
  execId: string;
  commandArgs: string[];
  /** True when the emulator served it host-side (the filesystem helper). */
  hostSide: boolean;
  atMs: number;
}
