import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { SandboxFamily, SandboxRecord } from "./sandbox-record.js";

/** How long a finished sandbox stays known (for `wait`, `poll`, `fromName` with terminated ones). */
export const FINISHED_SANDBOX_RETENTION_MS = 30 * 60_000;

/** Sandboxes by id and by task id, and the names claimed by creates in flight. */
export class SandboxStore {
  readonly #byId = new Map<string, SandboxRecord>();
  readonly #byTask = new Map<string, SandboxRecord>();
  /** Names being claimed by creates in flight, so two concurrent creates cannot both win. */
  readonly #pendingNames = new Set<string>();

  /** Keeps a new sandbox, and forgets it {@link FINISHED_SANDBOX_RETENTION_MS} after it ends. */
  add(sandbox: SandboxRecord): void {
    this.#byId.set(sandbox.sandboxId, sandbox);
    this.#byTask.set(sandbox.taskId, sandbox);
    void sandbox.ended.then(() => {
      const timer = setTimeout(() => {
        this.#byId.delete(sandbox.sandboxId);
        this.#byTask.delete(sandbox.taskId);
      }, FINISHED_SANDBOX_RETENTION_MS);
      timer.unref();
    });
  }

  get(sandboxId: string): SandboxRecord | undefined {
    return this.#byId.get(sandboxId);
  }

  /** The sandbox with this id, or NOT_FOUND. */
  require(sandboxId: string): SandboxRecord {
    const sandbox = this.#byId.get(sandboxId);
    if (!sandbox) fail(Status.NOT_FOUND, `Sandbox ${sandboxId} not found`);
    return sandbox;
  }

  byTask(taskId: string): SandboxRecord | undefined {
    return this.#byTask.get(taskId);
  }

  all(): SandboxRecord[] {
    return [...this.#byId.values()];
  }

  /** Finds a running sandbox by app and name (or the latest finished one when asked). */
  byName(appId: string, name: string, family: SandboxFamily | undefined, includeTerminated: boolean): SandboxRecord | undefined {
    const matches = this.all()
      .filter((sandbox) => sandbox.appId === appId && sandbox.name === name && (!family || sandbox.family === family))
      .sort((left, right) => right.createdAtSeconds - left.createdAtSeconds);
    return matches.find((sandbox) => sandbox.running) ?? (includeTerminated ? matches[0] : undefined);
  }

  /**
   * Claims a sandbox name in an app for a create in flight.
   * @returns a release function, to call once the create is done (or failed).
   * @throws ALREADY_EXISTS when a running sandbox or another create holds it.
   */
  claimName(appId: string, appName: string, name: string): () => void {
    this.#refuseTaken(appId, appName, name);
    const key = `${appId}/${name}`;
    this.#pendingNames.add(key);
    return () => this.#pendingNames.delete(key);
  }

  /**
   * Names a running sandbox that has never had a name (`experimentalSetName`).
   * @throws ALREADY_EXISTS when a running sandbox of the app holds the name,
   *   FAILED_PRECONDITION when this one is named or finished.
   */
  setName(sandbox: SandboxRecord, appName: string | undefined, name: string): void {
    if (!name) fail(Status.INVALID_ARGUMENT, "Sandbox names must be non-empty");
    if (sandbox.name) fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} already has the name '${sandbox.name}'`);
    if (!sandbox.running) fail(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} is no longer running`);
    this.#refuseTaken(sandbox.appId, appName, name);
    sandbox.name = name;
  }

  #refuseTaken(appId: string, appName: string | undefined, name: string): void {
    if (this.#pendingNames.has(`${appId}/${name}`) || this.byName(appId, name, undefined, false)) {
      fail(Status.ALREADY_EXISTS, `Sandbox with name '${name}' already exists in App '${appName}'`);
    }
  }
}
