import type { ExecSession } from "./exec-session.js";
import type { SandboxRecord } from "./sandbox-record.js";

/**
 * `verbose: true` at create: the emulator logs the sandbox's lifecycle (its
 * creation, each exec with its argv and how it ended, its end) through the
 * emulator's `onLog` (the bin writes it to stderr), one line each, prefixed
 * with the sandbox id. Modal's SDK only passes the flag ("created with
 * verbose logging enabled"); what Modal's own verbose logs contain is not in
 * the SDK, so these lines are the emulator's. Environment variables and
 * secrets are never logged.
 */
export class VerboseLog {
  readonly #log: ((line: string) => void) | undefined;
  readonly #verbose = new WeakSet<SandboxRecord>();

  constructor(log: ((line: string) => void) | undefined) {
    this.#log = log;
  }

  /** Turns verbose logging on for the sandbox and logs its creation. */
  enable(sandbox: SandboxRecord, details: string): void {
    this.#verbose.add(sandbox);
    this.#line(sandbox, `created (${details})`);
    void sandbox.ended.then((result) =>
      this.#line(sandbox, `finished: status ${result.status}, exit code ${result.exitcode}${result.exception ? `, ${result.exception}` : ""}`),
    );
  }

  /** Logs an exec of a verbose sandbox and, later, how it ended. */
  exec(sandbox: SandboxRecord, argv: readonly string[], session: ExecSession, containerId: string): void {
    if (!this.#verbose.has(sandbox)) return;
    const where = containerId ? ` in sidecar ${containerId}` : "";
    this.#line(sandbox, `exec ${session.execId}${where}: ${JSON.stringify(argv)}`);
    void session.finished.then((status) =>
      this.#line(sandbox, `exec ${session.execId} ${status.code !== undefined ? `exited with code ${status.code}` : `was killed by signal ${status.signal}`}`),
    );
  }

  #line(sandbox: SandboxRecord, message: string): void {
    this.#log?.(`modal-emulator: sandbox ${sandbox.sandboxId}: ${message}`);
  }
}
