import type { TerminalSize } from "../contract/process-handle.js";

/**
 * What core hands an adapter's `SandboxAdapter.startProcess`: a validated
 * `spawn()` call.
 */
export interface ProcessRequest {
  command: string;
  /** Absolute working directory, or undefined for the sandbox default. */
  cwd: string | undefined;
  env: Record<string, string>;
  /** Kill the tree after this many ms; undefined = no timeout. */
  timeoutMs: number | undefined;
  /** Terminal size, or undefined for plain pipes. */
  pty: TerminalSize | undefined;
}
