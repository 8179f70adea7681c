import { type CallContext, ServerError, Status } from "nice-grpc";
import { createDirectoryHandlers } from "./directory-handlers.js";
import type { EmulatorState } from "./emulator-state.js";
import type { ExecExitStatus, ExecSession } from "./exec-session.js";
import type { TaskExecStartRequest } from "./modal-sdk-definitions.js";
import { allowlistUnsupportedReason, enforceAllowlist, validateCidrs } from "./network-policy.js";
import { type OutboundPolicyMessage, resolveOutboundPolicy } from "./outbound-policy.js";
import { createSidecarRouterHandlers } from "./sidecar-handlers.js";

/** Largest `data` of one stdio message: well under the SDK's 100 MiB message limit. */
const STDIO_MESSAGE_BYTES = 1024 * 1024;
/** Longest a `TaskExecWait` long poll is held; the SDK gives each attempt 60 s and retries on DEADLINE_EXCEEDED. */
const MAX_EXEC_WAIT_MS = 50_000;
/** `TaskExecStdioFileDescriptor` / `SandboxStdioFileDescriptor`: 0 stdout, 1 stderr. */
const STDERR_DESCRIPTOR = 1;

interface StdioReadRequest {
  taskId: string;
  execId: string;
  offset: number;
  fileDescriptor: number;
}

interface StdinWriteStreamRequest {
  start?: { taskId: string; execId: string; offset: number };
  data?: Uint8Array;
  end?: object;
}

function exitMessage(status: ExecExitStatus): { code?: number; signal?: number } {
  return status.signal !== undefined ? { signal: status.signal } : { code: status.code ?? 0 };
}

function stdinError(error: unknown): never {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  // FAILED_PRECONDITION after exit: the SDK's filesystem write then polls the
  // exit code and reports the helper's typed error instead.
  if (code === "EXITED" || code === "CLOSED") throw new ServerError(Status.FAILED_PRECONDITION, message);
  if (code === "GAP") throw new ServerError(Status.OUT_OF_RANGE, message);
  throw new ServerError(Status.INTERNAL, message);
}

/**
 * The task command router (`modal.task_command_router.TaskCommandRouter`)
 * methods the emulator implements: execs, their stdio, and V2 entrypoint stdio.
 */
export function createCommandRouterHandlers(state: EmulatorState): Record<string, unknown> {
  const execOf = (taskId: string, execId: string): ExecSession => state.execs.require(taskId, execId);

  const entrypointOf = (taskId: string) => {
    const sandbox = state.sandboxes.byTask(taskId);
    if (!sandbox) throw new ServerError(Status.NOT_FOUND, `Task ${taskId} not found`);
    return sandbox;
  };

  return {
    async taskExecStart(request: TaskExecStartRequest) {
      await state.execs.start(request);
      return {};
    },

    async *taskExecStdioRead(request: StdioReadRequest, context: CallContext) {
      const session = execOf(request.taskId, request.execId);
      const buffer = request.fileDescriptor === STDERR_DESCRIPTOR ? session.stderr : session.stdout;
      for await (const data of buffer.read(request.offset, STDIO_MESSAGE_BYTES, context.signal)) {
        yield { data };
      }
    },

    async taskExecStdinWrite(request: { taskId: string; execId: string; offset: number; data: Uint8Array; eof: boolean }) {
      const session = execOf(request.taskId, request.execId);
      await session.writeStdin(request.offset, Buffer.from(request.data), request.eof).catch(stdinError);
      return {};
    },

    async taskExecStdinWriteStream(requests: AsyncIterable<StdinWriteStreamRequest>) {
      let session: ExecSession | undefined;
      let offset = 0;
      for await (const message of requests) {
        if (message.start) {
          session = execOf(message.start.taskId, message.start.execId);
          offset = message.start.offset;
          continue;
        }
        if (!session) throw new ServerError(Status.INVALID_ARGUMENT, "the first message of the stream must be `start`");
        if (message.data && message.data.length > 0) {
          const data = Buffer.from(message.data);
          await session.writeStdin(offset, data, false).catch(stdinError);
          offset += data.length;
        }
        if (message.end) await session.writeStdin(offset, Buffer.alloc(0), true).catch(stdinError);
      }
      return {};
    },

    async taskExecStdinStatus(request: { taskId: string; execId: string }) {
      const session = execOf(request.taskId, request.execId);
      return { numBytesWritten: session.stdinBytesWritten, closed: session.stdinClosed || session.status !== undefined };
    },

    async taskExecPoll(request: { taskId: string; execId: string }) {
      const session = execOf(request.taskId, request.execId);
      return session.status ? exitMessage(session.status) : {};
    },

    async taskExecWait(request: { taskId: string; execId: string }, context: CallContext) {
      const session = execOf(request.taskId, request.execId);
      const status = await Promise.race([
        session.finished,
        new Promise<undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), MAX_EXEC_WAIT_MS);
          context.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve(undefined);
          });
        }),
      ]);
      // An empty answer would read as "unexpected exit status" to the SDK: ask it to retry instead.
      if (!status) throw new ServerError(Status.DEADLINE_EXCEEDED, `exec ${request.execId} is still running`);
      return exitMessage(status);
    },

    async *sandboxStdioReadV2(request: { taskId: string; offset: number; fileDescriptor: number }, context: CallContext) {
      const sandbox = entrypointOf(request.taskId);
      const buffer = request.fileDescriptor === STDERR_DESCRIPTOR ? sandbox.entrypointStderr : sandbox.entrypointStdout;
      let first = true;
      for await (const data of buffer.read(request.offset, STDIO_MESSAGE_BYTES, context.signal)) {
        // `startingOffset` on the first message tells the SDK where this stream
        // resumed (later than asked when the replay window dropped those bytes).
        yield first ? { data, startingOffset: Math.max(request.offset, buffer.firstKeptOffset) } : { data };
        first = false;
      }
    },

    async sandboxStdinWriteV2(request: { taskId: string; offset: number; data: Uint8Array; eof: boolean }) {
      const sandbox = entrypointOf(request.taskId);
      const entrypoint = sandbox.entrypoint;
      if (!entrypoint) return {};
      await entrypoint.writeStdin(request.offset, Buffer.from(request.data), request.eof).catch(stdinError);
      return {};
    },

    /** `waitUntilReady()`: held until the readiness probe passes, at most the request's `timeout` (and 50 s). */
    async sandboxWaitUntilReady(request: { taskId: string; timeout: number }, context: CallContext) {
      const sandbox = entrypointOf(request.taskId);
      const timeoutMs = Math.min(MAX_EXEC_WAIT_MS, (request.timeout || 0) * 1000);
      return { readyAt: await state.waitUntilReady(sandbox, timeoutMs, context.signal) };
    },

    /** `updateNetworkPolicy()`: replaces the sandbox's outbound allowlist (the same iptables rules as at create). */
    async taskSetNetworkAccess(request: { taskId: string; networkAccess?: { allowedCidrs?: string[]; allowedDomains?: string[] } }) {
      const sandbox = entrypointOf(request.taskId);
      if (!sandbox.running) throw new ServerError(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished`);
      const allowlist = { cidrs: request.networkAccess?.allowedCidrs ?? [], domains: request.networkAccess?.allowedDomains ?? [] };
      validateCidrs(allowlist.cidrs);
      const unsupported = await allowlistUnsupportedReason();
      if (unsupported) {
        throw new ServerError(
          Status.FAILED_PRECONDITION,
          `modal-emulator enforces outbound allowlists with iptables in the sandbox's network namespace, but ${unsupported}`,
        );
      }
      if ((await sandbox.container.inspect()).HostConfig?.NetworkMode === "none") {
        throw new ServerError(Status.FAILED_PRECONDITION, `Sandbox ${sandbox.sandboxId} was created with blockNetwork: it has no network to allow traffic on`);
      }
      await enforceAllowlist(sandbox.container, allowlist, { replace: true, egress: state.egressOf(sandbox)?.redirect });
      return {};
    },

    /**
     * `experimentalUpdateOutboundPolicy()`: replaces the header replacements
     * for the sandbox's new outbound HTTPS connections. Only a sandbox created
     * with a policy has its HTTPS going through the egress proxy (as on Modal,
     * where header replacement is set up at creation time).
     */
    async taskSetOutboundPolicy(request: { taskId: string; experimentalOutboundPolicy?: OutboundPolicyMessage }) {
      const sandbox = entrypointOf(request.taskId);
      if (!sandbox.running) throw new ServerError(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished`);
      const egress = state.egressOf(sandbox);
      if (!egress) {
        throw new ServerError(
          Status.FAILED_PRECONDITION,
          `Sandbox ${sandbox.sandboxId} was created without an experimentalOutboundPolicy: header replacement is only set up at creation time, so its outbound policy cannot be updated`,
        );
      }
      egress.setPolicy(resolveOutboundPolicy(request.experimentalOutboundPolicy ?? {}, (secretId) => state.secrets.valuesOf(secretId)));
      return {};
    },

    ...createSidecarRouterHandlers(state),
    ...createDirectoryHandlers(state),

    /** `reloadVolumes()`: the sandbox's volume copies are replaced with the volumes' committed state. */
    async taskReloadVolumes(request: { taskId: string }) {
      const sandbox = entrypointOf(request.taskId);
      if (!sandbox.running) throw new ServerError(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished`);
      await state.reloadVolumes(sandbox);
      return {};
    },

    /** `snapshotFilesystem()`: commits the container to a local image the emulator can start again. */
    async taskSnapshotFilesystem(request: { taskId: string; containerId?: string }) {
      const sandbox = entrypointOf(request.taskId);
      if (!sandbox.running) throw new ServerError(Status.NOT_FOUND, `Sandbox ${sandbox.sandboxId} has already finished`);
      const image = await state.filesystemSnapshots.take(sandbox, state.containerOf(sandbox, request.containerId ?? ""));
      return { imageId: image.imageId };
    },
  };
}
