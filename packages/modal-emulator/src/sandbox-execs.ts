import type { EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { EXIT_CANNOT_EXECUTE, EXIT_COMMAND_NOT_FOUND, EXIT_KILLED, ExecSession, SIGKILL } from "./exec-session.js";
import type { FilesystemToolServer } from "./filesystem-tools.js";
import { parseFilesystemToolArgv } from "./filesystem-tools.js";
import { fail } from "./grpc-errors.js";
import { appendBounded, type RecordedExecStart } from "./inspection-log.js";
import type { TaskExecStartRequest } from "./modal-sdk-definitions.js";
import { startPtyExec } from "./pty-exec.js";
import { GenericStatus, type SandboxRecord } from "./sandbox-record.js";
import type { SandboxStore } from "./sandbox-store.js";
import type { SecretStore } from "./secret-store.js";
import type { SandboxVolumeMount } from "./volume-sync.js";

/** A command line that runs `sync`: in a sandbox with volumes, it commits them (see `#runSyncCommit`). */
const SYNC_COMMAND = /(^|[\s;&|/(])sync(\s|$|[;&|)])/;
/** `TaskExecStdoutConfig` / `TaskExecStderrConfig`: 1 means pipe. */
const STDIO_PIPE = 1;
/**
 * How long a finished exec's output stays readable. The SDK reads output
 * right after `wait()`; dropping it later keeps a long-lived sandbox (many
 * large filesystem reads) from holding every byte it ever produced.
 */
export const FINISHED_EXEC_RETENTION_MS = 5 * 60_000;

/** What {@link SandboxExecs} works with. */
export interface SandboxExecsOptions {
  sandboxes: SandboxStore;
  secrets: SecretStore;
  filesystemTools: FilesystemToolServer;
  /** The volume copies of the container an exec targets (the main one for an empty `containerId`). */
  volumeMountsOf: (sandbox: SandboxRecord, containerId: string) => SandboxVolumeMount[];
  /** Publishes volume writes (a `sync` exec does this). */
  commitVolumes: (mounts: SandboxVolumeMount[]) => Promise<void>;
  /** The container an exec targets: the main one for an empty `containerId`, else a sidecar (NOT_FOUND if unknown). */
  containerOf: (sandbox: SandboxRecord, containerId: string) => EngineContainer;
  /** The inspection log of exec starts. */
  execStarts: RecordedExecStart[];
  /** Told of every exec started (`verbose` sandboxes log it). */
  onExecStart?: (sandbox: SandboxRecord, argv: readonly string[], session: ExecSession, containerId: string) => void;
}

/** Starts the command of `request` as a plain exec (stdin open) whose output goes to the session. */
function execCommand(container: EngineContainer, request: TaskExecStartRequest, environment: Record<string, string>, session: ExecSession) {
  return container.exec(request.commandArgs, {
    env: environment,
    ...(request.workdir ? { cwd: request.workdir } : {}),
    stdin: true,
    onStdout: (chunk) => session.appendStdout(chunk),
    onStderr: (chunk) => session.appendStderr(chunk),
  });
}

/** Starts and finds the execs of sandboxes: commands, the entrypoint, the filesystem helper, `sync`. */
export class SandboxExecs {
  readonly #options: SandboxExecsOptions;

  constructor(options: SandboxExecsOptions) {
    this.#options = options;
  }

  /** The exec with this id in this task, or NOT_FOUND. */
  require(taskId: string, execId: string): ExecSession {
    const sandbox = this.#options.sandboxes.byTask(taskId);
    if (!sandbox) fail(Status.NOT_FOUND, `Task ${taskId} not found`);
    const session = sandbox.execs.get(execId);
    if (!session) fail(Status.NOT_FOUND, `Exec ${execId} not found in task ${taskId}`);
    return session;
  }

  /**
   * Starts an exec, idempotently per exec id (the SDK retries `TaskExecStart`
   * with the same id). The filesystem helper argv is served host-side.
   */
  async start(request: TaskExecStartRequest): Promise<ExecSession> {
    const sandbox = this.#options.sandboxes.byTask(request.taskId);
    if (!sandbox) fail(Status.NOT_FOUND, `Task ${request.taskId} not found`);
    const existing = sandbox.execs.get(request.execId);
    if (existing) return existing;
    if (!sandbox.running) fail(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished; its task accepts no more execs`);
    const container = this.#options.containerOf(sandbox, request.containerId);
    const fsRequest = parseFilesystemToolArgv(request.commandArgs);
    appendBounded(this.#options.execStarts, {
      taskId: request.taskId,
      execId: request.execId,
      commandArgs: [...request.commandArgs],
      hostSide: fsRequest !== undefined,
      atMs: Date.now(),
    });
    const session = new ExecSession({
      execId: request.execId,
      keepStdout: request.stdoutConfig === STDIO_PIPE,
      keepStderr: request.stderrConfig === STDIO_PIPE,
      ...(request.timeoutSecs ? { timeoutMs: request.timeoutSecs * 1000 } : {}),
    });
    sandbox.execs.set(request.execId, session);
    this.#options.onExecStart?.(sandbox, request.commandArgs, session, request.containerId ?? "");
    sandbox.touch();
    void session.finished.then(() => {
      sandbox.touch();
      const timer = setTimeout(() => sandbox.execs.delete(request.execId), FINISHED_EXEC_RETENTION_MS);
      timer.unref();
    });
    if (fsRequest) {
      this.#options.filesystemTools.run(container, session, fsRequest);
      return session;
    }
    const environment = this.#options.secrets.resolveEnvironment(request.secretIds, request.secretSources, request.env);
    const volumeMounts = this.#options.volumeMountsOf(sandbox, request.containerId);
    if (volumeMounts.some((mount) => !mount.readOnly) && SYNC_COMMAND.test(request.commandArgs.join(" "))) {
      this.#runSyncCommit(container, volumeMounts, session, request, environment);
      return session;
    }
    try {
      if (request.ptyInfo?.enabled) {
        await startPtyExec(container, session, request, environment);
        return session;
      }
      const engineExec = await execCommand(container, request, environment, session);
      session.attachEngineExec(engineExec);
    } catch (error) {
      await this.#failedToStart(sandbox, session, request, error);
    }
    return session;
  }

  /**
   * Runs the sandbox's entrypoint as an exec; the sandbox finishes when it
   * exits. With `pty` (`ptyInfo.enabled`, the SDK's `pty: true`) it runs on a
   * terminal, as a PTY exec does: its output, stderr included, comes out as
   * the sandbox's stdout, and the sandbox's stdin is the terminal's input.
   */
  async startEntrypoint(sandbox: SandboxRecord, argv: string[], pty?: TaskExecStartRequest["ptyInfo"]): Promise<void> {
    const session = new ExecSession({
      execId: "entrypoint",
      keepStdout: true,
      keepStderr: true,
      stdout: sandbox.entrypointStdout,
      stderr: sandbox.entrypointStderr,
      // Modal keeps the entrypoint's output as the sandbox's logs, read or not.
      backpressureBytes: Number.POSITIVE_INFINITY,
    });
    sandbox.entrypoint = session;
    try {
      if (pty?.enabled) {
        await startPtyExec(sandbox.container, session, { commandArgs: argv, ptyInfo: pty, workdir: "" }, {});
      } else {
        const engineExec = await sandbox.container.exec(argv, {
          stdin: true,
          onStdout: (chunk) => session.appendStdout(chunk),
          onStderr: (chunk) => session.appendStderr(chunk),
        });
        session.attachEngineExec(engineExec);
      }
    } catch (error) {
      session.appendStderr(Buffer.from(`modal-emulator: could not start the entrypoint: ${(error as Error).message}\n`));
      session.finish({ code: EXIT_COMMAND_NOT_FOUND });
    }
    void session.finished.then((status) => {
      if (!sandbox.running) return;
      const exitcode = status.code ?? 128 + (status.signal ?? SIGKILL);
      void sandbox.finish({
        status: exitcode === 0 ? GenericStatus.success : GenericStatus.failure,
        exitcode,
        exception: exitcode === 0 ? "" : `Sandbox entrypoint exited with code ${exitcode}`,
      });
    });
  }

  /**
   * An exec the engine refused: a paused container answers UNAVAILABLE (it
   * comes back on unpause), a gone one ends the sandbox, anything else is the
   * command's failure (127 not found, 126 cannot run).
   */
  async #failedToStart(sandbox: SandboxRecord, session: ExecSession, request: TaskExecStartRequest, error: unknown): Promise<void> {
    const message = (error as Error).message ?? String(error);
    if ((error as { kind?: string }).kind === "not-found") {
      // The engine says 409 both for a stopped container and for a paused one.
      const state = await sandbox.container.inspect().then(
        (info) => info.State,
        () => undefined,
      );
      if (state?.Running === true || state?.Paused === true) {
        session.appendStderr(Buffer.from(`modal-emulator: could not start ${JSON.stringify(request.commandArgs[0])}: the sandbox's container is paused\n`));
        session.finish({ code: EXIT_CANNOT_EXECUTE });
        // Forgotten, so the SDK's retry of this exec id tries again instead of replaying a failure.
        sandbox.execs.delete(request.execId);
        fail(Status.UNAVAILABLE, `Sandbox ${sandbox.sandboxId} is paused; it accepts execs again once unpaused`);
      }
      // The container is gone (killed from outside, or out of memory): the sandbox has ended.
      session.finish({ signal: SIGKILL });
      void sandbox.finish({ status: GenericStatus.failure, exitcode: EXIT_KILLED, exception: `The sandbox's container is gone: ${message}` });
      fail(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished: its container is gone`);
    }
    session.appendStderr(Buffer.from(`modal-emulator: could not start ${JSON.stringify(request.commandArgs[0])}: ${message}\n`));
    session.finish({ code: /not found|no such file/i.test(message) ? EXIT_COMMAND_NOT_FOUND : EXIT_CANNOT_EXECUTE });
  }

  /**
   * `sync` in a sandbox with volumes is how Modal commits them from inside.
   * The emulator cannot see a `sync` system call, so an exec whose command
   * line names `sync` (`["sync", "/vol"]`, or `sh -c "... && sync /vol"`)
   * runs, then the volumes are committed before it reports its exit.
   */
  #runSyncCommit(
    container: EngineContainer,
    volumeMounts: SandboxVolumeMount[],
    session: ExecSession,
    request: TaskExecStartRequest,
    environment: Record<string, string>,
  ): void {
    void (async () => {
      try {
        const started = await execCommand(container, request, environment, session);
        const stdin = started.stdin;
        session.attachHostOperation(
          stdin
            ? {
                write: (chunk) => new Promise<void>((resolve) => (stdin.destroyed || stdin.writableEnded ? resolve() : stdin.write(chunk, () => resolve()))),
                end: () => {
                  if (!stdin.destroyed && !stdin.writableEnded) stdin.end();
                },
              }
            : undefined,
          async () => {
            await started.kill();
            session.finish({ signal: SIGKILL });
          },
        );
        const { exitCode } = await started.done;
        if (exitCode === 0) await this.#options.commitVolumes(volumeMounts);
        session.finish(exitCode === null ? { signal: SIGKILL } : { code: exitCode });
      } catch (error) {
        session.appendStderr(Buffer.from(`sync: ${(error as Error).message ?? String(error)}\n`));
        session.finish({ code: 1 });
      }
    })();
  }
}
