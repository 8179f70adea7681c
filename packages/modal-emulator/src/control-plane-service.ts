import { StringDecoder } from "node:string_decoder";
import { type CallContext, ServerError, Status } from "nice-grpc";
import type { TokenAuthority } from "./auth-tokens.js";
import type { EmulatorState } from "./emulator-state.js";
import { snapshotResultOf } from "./filesystem-snapshots.js";
import type { ControlPlaneMethodName, ControlPlaneRequest, ControlPlaneResponse, ControlPlaneStreamRequest, DeepPartial } from "./modal-sdk-definitions.js";
import { mintObjectId } from "./object-ids.js";
import { createsWhenMissing, FileDescriptor } from "./protocol-values.js";
import type { SandboxLogFilter } from "./sandbox-logs.js";
import { GenericStatus, type SandboxFamily, type SandboxRecord } from "./sandbox-record.js";
import { tunnelsOf } from "./sandbox-tunnels.js";
import { createSidecarControlPlaneHandlers } from "./sidecar-handlers.js";

type Handler<Name extends ControlPlaneMethodName> = (
  request: ControlPlaneRequest<Name>,
  context: CallContext,
) => Promise<DeepPartial<ControlPlaneResponse<Name>>>;

/** The image builder version reported to the SDK (any non-empty value works). */
export const IMAGE_BUILDER_VERSION = "2024.10";
/** Longest a `SandboxWait` long poll is held, seconds (the SDK asks for 10). */
const MAX_SANDBOX_WAIT_SECONDS = 50;
/** Page size of `SandboxList`. */
const SANDBOX_LIST_PAGE_SIZE = 100;
/** How long one `SandboxGetLogs` stream stays open before the SDK reopens it (it asks for 55 s). */
const LOGS_STREAM_MAX_MS = 50_000;
/** Most bytes of entrypoint output one `SandboxGetLogs` batch carries. */
const LOGS_BATCH_BYTES = 64 * 1024;
/** Longest a `SandboxSnapshotFsAsyncGet` long poll is held, seconds. */
const MAX_SNAPSHOT_WAIT_SECONDS = 50;

/** Options of {@link createControlPlaneHandlers}. */
export interface ControlPlaneOptions {
  state: EmulatorState;
  tokens: TokenAuthority;
  /** The router URL handed to the SDK (`https://127.0.0.1:PORT`; the SDK dials loopback without TLS). */
  routerUrl: () => string;
}

function resultMessage(sandbox: SandboxRecord): DeepPartial<ControlPlaneResponse<"sandboxWait">>["result"] {
  const result = sandbox.result;
  return result ? { status: result.status, exitcode: result.exitcode, exception: result.exception } : undefined;
}

function tagsList(tags: Record<string, string>): Array<{ tagName: string; tagValue: string }> {
  return Object.entries(tags).map(([tagName, tagValue]) => ({ tagName, tagValue }));
}

/**
 * The control-plane (`modal.client.ModalClient`) methods the emulator
 * implements, as nice-grpc handlers. Everything else answers UNIMPLEMENTED.
 */
export function createControlPlaneHandlers(options: ControlPlaneOptions): Record<string, unknown> {
  const { state, tokens } = options;

  const routerAccess = (sandbox: SandboxRecord): { url: string; jwt: string } => ({
    url: options.routerUrl(),
    jwt: tokens.mint("command-router", sandbox.taskId, sandbox.sandboxId),
  });

  const requireFamily = (sandboxId: string, family: SandboxFamily): SandboxRecord => {
    const sandbox = state.sandboxes.require(sandboxId);
    if (sandbox.family !== family) {
      throw new ServerError(
        Status.INVALID_ARGUMENT,
        `Sandbox ${sandboxId} is a ${sandbox.family.toUpperCase()} sandbox; use the ${sandbox.family.toUpperCase()} RPCs`,
      );
    }
    return sandbox;
  };

  const createSandbox = async (family: SandboxFamily, request: ControlPlaneRequest<"sandboxCreate"> | ControlPlaneRequest<"sandboxCreateV2">) =>
    state.createSandbox(family, request);

  const getTaskId = (sandboxId: string): DeepPartial<ControlPlaneResponse<"sandboxGetTaskId">> => {
    const sandbox = state.sandboxes.require(sandboxId);
    // A finished sandbox reports its result and no task, so a fresh handle
    // (fromId, fromName) learns it has ended instead of exec'ing into it.
    if (!sandbox.running) return { taskResult: resultMessage(sandbox) };
    return { taskId: sandbox.taskId };
  };

  const wait = async (sandboxId: string, timeoutSeconds: number, context: CallContext) => {
    const sandbox = state.sandboxes.require(sandboxId);
    const timeoutMs = Math.min(Math.max(timeoutSeconds, 0), MAX_SANDBOX_WAIT_SECONDS) * 1000;
    await sandbox.waitForResult(timeoutMs, context.signal);
    return { result: resultMessage(sandbox), metadata: { appId: sandbox.appId, result: resultMessage(sandbox) } };
  };

  /**
   * A sandbox's tunnels. One that ended at its timeout has none to give and
   * answers with its TIMEOUT result, which the SDK raises as
   * `SandboxTimeoutError` (the only place it does).
   */
  const tunnels = async (sandboxId: string): Promise<DeepPartial<ControlPlaneResponse<"sandboxGetTunnels">>> => {
    const sandbox = state.sandboxes.require(sandboxId);
    if (sandbox.result?.status === GenericStatus.timeout) return { result: resultMessage(sandbox), tunnels: [] };
    return { tunnels: await tunnelsOf(sandbox) };
  };

  /** The sandboxes whose entrypoint logs a log request names: of its app, narrowed by task or sandbox id. */
  const logSandboxes = (request: { appId?: string; taskId?: string; sandboxId?: string; functionId?: string; functionCallId?: string }): SandboxRecord[] => {
    if (!state.apps.get(request.appId ?? "")) throw new ServerError(Status.NOT_FOUND, `App ${request.appId} not found`);
    // Functions have no logs here: the emulator runs sandboxes only.
    if (request.functionId || request.functionCallId) return [];
    return state.sandboxes
      .all()
      .filter(
        (sandbox) =>
          sandbox.appId === request.appId &&
          (!request.taskId || sandbox.taskId === request.taskId) &&
          (!request.sandboxId || sandbox.sandboxId === request.sandboxId),
      );
  };
  const logFilter = (request: { since?: Date | undefined; until?: Date | undefined; source?: number; searchText?: string }): SandboxLogFilter => ({
    sinceMs: request.since?.getTime(),
    untilMs: request.until?.getTime(),
    fileDescriptor: request.source,
    searchText: request.searchText,
  });

  const terminate = async (sandboxId: string) => {
    const sandbox = state.sandboxes.require(sandboxId);
    const existing = sandbox.result ? resultMessage(sandbox) : undefined;
    await state.terminate(sandbox);
    return { existingResult: existing };
  };

  const fromName = (request: ControlPlaneRequest<"sandboxGetFromNameV2">, family: SandboxFamily): DeepPartial<ControlPlaneResponse<"sandboxGetFromNameV2">> => {
    const app = state.apps.byName(request.appName ?? "", request.environmentName);
    if (!app) throw new ServerError(Status.NOT_FOUND, `App '${request.appName}' not found`);
    const sandbox = state.sandboxes.byName(app.appId, request.sandboxName ?? "", family, request.includeTerminated ?? false);
    if (!sandbox) {
      throw new ServerError(Status.NOT_FOUND, `Sandbox with name '${request.sandboxName}' not found in App '${request.appName}'`);
    }
    return { sandboxId: sandbox.sandboxId, metadata: { appId: sandbox.appId, result: resultMessage(sandbox) } };
  };

  const list = (request: ControlPlaneRequest<"sandboxListV2">, families: SandboxFamily[]) => {
    const wantedTags = Object.fromEntries((request.tags ?? []).map((tag) => [tag.tagName ?? "", tag.tagValue ?? ""]));
    const before = request.beforeTimestamp || Number.POSITIVE_INFINITY;
    const sandboxes = state.sandboxes
      .all()
      .filter(
        (sandbox) =>
          families.includes(sandbox.family) &&
          (!request.appId || sandbox.appId === request.appId) &&
          (request.includeFinished || sandbox.running) &&
          sandbox.createdAtSeconds < before &&
          Object.entries(wantedTags).every(([name, value]) => sandbox.tags[name] === value),
      )
      .sort((left, right) => right.createdAtSeconds - left.createdAtSeconds)
      .slice(0, SANDBOX_LIST_PAGE_SIZE);
    return {
      sandboxes: sandboxes.map((sandbox) => ({
        id: sandbox.sandboxId,
        createdAt: sandbox.createdAtSeconds,
        appId: sandbox.appId,
        name: sandbox.name ?? "",
        imageId: sandbox.imageId,
        tags: tagsList(sandbox.tags),
        timeoutSecs: sandbox.timeoutSecs,
        taskInfo: {
          id: sandbox.taskId,
          startedAt: sandbox.createdAtSeconds,
          finishedAt: sandbox.finishedAtSeconds ?? 0,
          result: resultMessage(sandbox),
          sandboxId: sandbox.sandboxId,
        },
        metadata: { appId: sandbox.appId, result: resultMessage(sandbox) },
      })),
    };
  };

  const connectToken = (request: ControlPlaneRequest<"sandboxCreateConnectTokenV2">, family: SandboxFamily) =>
    state.connectProxy.grant(requireFamily(request.sandboxId ?? "", family), request.port, request.userMetadata ?? "");

  const setTags = (sandboxId: string, tags: Array<{ tagName?: string; tagValue?: string }> | undefined) => {
    const sandbox = state.sandboxes.require(sandboxId);
    for (const tag of tags ?? []) {
      if (!tag.tagName) throw new ServerError(Status.INVALID_ARGUMENT, "Tag names must be non-empty");
    }
    sandbox.tags = Object.fromEntries((tags ?? []).map((tag) => [tag.tagName ?? "", tag.tagValue ?? ""]));
    return {};
  };

  const handlers = {
    authTokenGet: (async () => ({ token: tokens.mint("control-plane", "client") })) satisfies Handler<"authTokenGet">,

    environmentGetOrCreate: (async (request) => ({
      environmentId: mintObjectId("environment"),
      metadata: {
        name: request.deploymentName || "main",
        settings: { imageBuilderVersion: IMAGE_BUILDER_VERSION, webhookSuffix: "modal-emulator.local" },
      },
    })) satisfies Handler<"environmentGetOrCreate">,

    appGetOrCreate: (async (request) => {
      const createIfMissing = createsWhenMissing(request.objectCreationType);
      const app = state.apps.getOrCreate(request.appName ?? "", request.environmentName, createIfMissing);
      if (!app) throw new ServerError(Status.NOT_FOUND, `App '${request.appName}' not found`);
      return {
        appId: app.appId,
        handleMetadata: {
          appId: app.appId,
          environmentName: app.environmentName,
          lifecycle: { appState: 2, createdAt: app.createdAtSeconds },
        },
      };
    }) satisfies Handler<"appGetOrCreate">,

    imageGetOrCreate: (async (request) => {
      const image = request.image ?? {};
      // Layer env and secrets arrive as secret ids; a layer's `gpuConfig` only
      // changes where Modal builds, so it is ignored here.
      const buildEnv = state.secrets.resolveEnvironment(image.secretIds ?? [], undefined);
      const resolution = await state.images.resolve(
        (image.dockerfileCommands ?? []).filter((command): command is string => typeof command === "string"),
        (image.baseImages ?? []).map((base) => ({ dockerTag: base.dockerTag ?? "", imageId: base.imageId ?? "" })),
        buildEnv,
        request.forceBuild ?? false,
      );
      if (!resolution.ok) {
        return { imageId: resolution.imageId, result: { status: GenericStatus.failure, exception: resolution.message } };
      }
      return {
        imageId: resolution.image.imageId,
        result: { status: GenericStatus.success },
        metadata: { imageBuilderVersion: IMAGE_BUILDER_VERSION },
      };
    }) satisfies Handler<"imageGetOrCreate">,

    imageFromId: (async (request) => {
      const image = state.images.get(request.imageId ?? "");
      if (!image) throw new ServerError(Status.NOT_FOUND, `Could not find image with ID ${request.imageId}`);
      return { imageId: image.imageId, metadata: { imageBuilderVersion: IMAGE_BUILDER_VERSION } };
    }) satisfies Handler<"imageFromId">,

    imagePublish: (async (request) => state.publishedImages.publish(request)) satisfies Handler<"imagePublish">,
    imageGetByTag: (async (request) => state.publishedImages.get(request)) satisfies Handler<"imageGetByTag">,

    imageDelete: (async (request) => {
      if (!(await state.images.delete(request.imageId ?? ""))) {
        throw new ServerError(Status.NOT_FOUND, `Could not find image with ID ${request.imageId}`);
      }
      return {};
    }) satisfies Handler<"imageDelete">,

    sandboxCreateConnectToken: (async (request) => connectToken(request, "v1")) satisfies Handler<"sandboxCreateConnectToken">,
    sandboxCreateConnectTokenV2: (async (request) => connectToken(request, "v2")) satisfies Handler<"sandboxCreateConnectTokenV2">,

    ...createSidecarControlPlaneHandlers(state),

    secretGetOrCreate: (async (request) => ({ secretId: state.secrets.getOrCreate(request) })) satisfies Handler<"secretGetOrCreate">,

    secretDelete: (async (request) => {
      state.secrets.delete(request.secretId ?? "");
      return {};
    }) satisfies Handler<"secretDelete">,

    volumeGetOrCreate: (async (request) => {
      const volume = await state.volumes.getOrCreate(request);
      return { volumeId: volume.volumeId, version: 1, metadata: { name: volume.name ?? "", version: 1 } };
    }) satisfies Handler<"volumeGetOrCreate">,

    volumeHeartbeat: (async (request) => {
      if (!state.volumes.get(request.volumeId ?? "")) throw new ServerError(Status.NOT_FOUND, `Volume ${request.volumeId} not found`);
      return {};
    }) satisfies Handler<"volumeHeartbeat">,

    volumeDelete: (async (request) => {
      await state.volumes.delete(request.volumeId ?? "");
      return {};
    }) satisfies Handler<"volumeDelete">,

    sandboxCreate: (async (request) => {
      const sandbox = await createSandbox("v1", request);
      return { sandboxId: sandbox.sandboxId, metadata: { appId: sandbox.appId } };
    }) satisfies Handler<"sandboxCreate">,

    sandboxCreateV2: (async (request) => {
      const sandbox = await createSandbox("v2", request);
      // Task id and router access ride on the create response, so the SDK
      // needs no further lookups before its first exec.
      return {
        sandboxId: sandbox.sandboxId,
        taskId: sandbox.taskId,
        commandRouterAccess: routerAccess(sandbox),
        metadata: { appId: sandbox.appId },
        tunnels: await tunnelsOf(sandbox),
      };
    }) satisfies Handler<"sandboxCreateV2">,

    sandboxGetTaskId: (async (request) => getTaskId(request.sandboxId ?? "")) satisfies Handler<"sandboxGetTaskId">,
    sandboxGetTaskIdV2: (async (request) => getTaskId(request.sandboxId ?? "")) satisfies Handler<"sandboxGetTaskIdV2">,

    taskGetCommandRouterAccess: (async (request) => {
      const sandbox = state.sandboxes.byTask(request.taskId ?? "");
      if (!sandbox) throw new ServerError(Status.NOT_FOUND, `Task ${request.taskId} not found`);
      return routerAccess(sandbox);
    }) satisfies Handler<"taskGetCommandRouterAccess">,

    sandboxGetCommandRouterAccess: (async (request) => {
      const sandbox = request.sandboxId ? state.sandboxes.require(request.sandboxId) : state.sandboxes.byTask(request.taskId ?? "");
      if (!sandbox) throw new ServerError(Status.NOT_FOUND, `Task ${request.taskId} not found`);
      return routerAccess(sandbox);
    }) satisfies Handler<"sandboxGetCommandRouterAccess">,

    sandboxWait: (async (request, context) => {
      requireFamily(request.sandboxId ?? "", "v1");
      return wait(request.sandboxId ?? "", request.timeout ?? 0, context);
    }) satisfies Handler<"sandboxWait">,
    sandboxWaitV2: (async (request, context) => wait(request.sandboxId ?? "", request.timeout ?? 0, context)) satisfies Handler<"sandboxWaitV2">,

    /** The control-plane form of `waitUntilReady` (the SDK uses the router's); same semantics. */
    sandboxWaitUntilReady: (async (request, context) => {
      const sandbox = state.sandboxes.require(request.sandboxId ?? "");
      return { readyAt: await state.waitUntilReady(sandbox, Math.min(MAX_SANDBOX_WAIT_SECONDS * 1000, (request.timeout ?? 0) * 1000), context.signal) };
    }) satisfies Handler<"sandboxWaitUntilReady">,

    sandboxTerminate: (async (request) => terminate(request.sandboxId ?? "")) satisfies Handler<"sandboxTerminate">,
    sandboxTerminateV2: (async (request) => terminate(request.sandboxId ?? "")) satisfies Handler<"sandboxTerminateV2">,

    sandboxGetFromName: (async (request) => fromName({ ...request, includeTerminated: false }, "v1")) satisfies Handler<"sandboxGetFromName">,
    sandboxGetFromNameV2: (async (request) => fromName(request, "v2")) satisfies Handler<"sandboxGetFromNameV2">,

    // V1 listing does not return V2 sandboxes, as on Modal; V2 listing returns both.
    sandboxList: (async (request) => list(request, ["v1"])) satisfies Handler<"sandboxList">,
    sandboxListV2: (async (request) => list(request, ["v1", "v2"])) satisfies Handler<"sandboxListV2">,

    sandboxTagsSet: (async (request) => setTags(request.sandboxId ?? "", request.tags)) satisfies Handler<"sandboxTagsSet">,
    sandboxTagsSetV2: (async (request) => setTags(request.sandboxId ?? "", request.tags)) satisfies Handler<"sandboxTagsSetV2">,
    sandboxTagsGet: (async (request) => ({ tags: tagsList(state.sandboxes.require(request.sandboxId ?? "").tags) })) satisfies Handler<"sandboxTagsGet">,
    sandboxTagsGetV2: (async (request) => ({ tags: tagsList(state.sandboxes.require(request.sandboxId ?? "").tags) })) satisfies Handler<"sandboxTagsGetV2">,

    sandboxSetName: (async (request) => {
      const sandbox = requireFamily(request.sandboxId ?? "", "v2");
      state.setSandboxName(sandbox, request.name ?? "");
      return {};
    }) satisfies Handler<"sandboxSetName">,

    // Ports opened at create, served by the emulator's listeners on 127.0.0.1 (sandbox-tunnels.ts).
    /** `sandbox.logs.tail()` / `.fetch()`: the entrypoint's output of the app's sandboxes (by task or sandbox id), oldest first. */
    appFetchLogs: (async (request) => {
      const limit = request.limit && request.limit > 0 ? request.limit : Number.POSITIVE_INFINITY;
      const found = logSandboxes(request).map((sandbox) => ({ sandbox, entries: sandbox.entrypointLog.entries(logFilter(request)) }));
      // The limit keeps the newest entries (a tail), across the matching sandboxes.
      const newest = found
        .flatMap(({ entries }) => entries.map((entry) => entry.atNs))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .slice(-limit);
      const cutoff = newest[0];
      return {
        batches: found
          .map(({ sandbox, entries }) => ({
            taskId: sandbox.taskId,
            sandboxId: sandbox.sandboxId,
            items: entries
              .filter((entry) => cutoff !== undefined && entry.atNs >= cutoff)
              .map((entry) => ({
                data: entry.data,
                fileDescriptor: entry.fileDescriptor,
                timestamp: Number(entry.atNs / 1_000_000n) / 1000,
                timestampNs: entry.atNs.toString(),
              })),
          }))
          .filter((batch) => batch.items.length > 0),
      };
    }) satisfies Handler<"appFetchLogs">,

    /** The counts `sandbox.logs.fetch()` plans its reads with: entries per `bucketSecs` bucket from `since`. */
    appCountLogs: (async (request) => {
      const bucketMs = Math.max(1, request.bucketSecs || 60) * 1000;
      const sinceMs = request.since?.getTime() ?? 0;
      const buckets = new Map<number, { stdoutLogs: number; stderrLogs: number; systemLogs: number }>();
      for (const sandbox of logSandboxes(request)) {
        for (const entry of sandbox.entrypointLog.entries(logFilter(request))) {
          const atMs = Number(entry.atNs / 1_000_000n);
          const start = sinceMs + Math.floor((atMs - sinceMs) / bucketMs) * bucketMs;
          const bucket = buckets.get(start) ?? { stdoutLogs: 0, stderrLogs: 0, systemLogs: 0 };
          if (entry.fileDescriptor === FileDescriptor.stderr) bucket.stderrLogs++;
          else bucket.stdoutLogs++;
          buckets.set(start, bucket);
        }
      }
      return {
        appId: request.appId ?? "",
        buckets: [...buckets.entries()].sort(([a], [b]) => a - b).map(([start, counts]) => ({ bucketStartAt: new Date(start), ...counts })),
      };
    }) satisfies Handler<"appCountLogs">,

    /**
     * A filesystem snapshot as an image (the control-plane form of
     * `snapshotFilesystem`): waits for it up to `timeout` seconds (none: until
     * done), then answers TIMEOUT with the image id, which
     * `SandboxSnapshotFsAsyncGet` keeps answering for. Failures (a finished
     * sandbox) are the result's FAILURE, as the response carries a result.
     */
    sandboxSnapshotFs: (async (request, context) => {
      const sandbox = state.sandboxes.require(request.sandboxId ?? "");
      const imageId = state.filesystemSnapshots.start(sandbox);
      const timeoutSeconds = request.timeout ?? 0;
      const outcome = await state.filesystemSnapshots.outcome(imageId, timeoutSeconds > 0 ? timeoutSeconds * 1000 : Number.POSITIVE_INFINITY, context.signal);
      return {
        imageId,
        result: snapshotResultOf(outcome) ?? {
          status: GenericStatus.timeout,
          exception: `Filesystem snapshot of sandbox ${sandbox.sandboxId} did not finish within ${timeoutSeconds} s`,
        },
        imageMetadata: outcome?.ok ? { imageBuilderVersion: IMAGE_BUILDER_VERSION } : undefined,
      };
    }) satisfies Handler<"sandboxSnapshotFs">,

    /** Starts a filesystem snapshot and answers the id its image will have. */
    sandboxSnapshotFsAsync: (async (request) => ({
      imageId: state.filesystemSnapshots.start(state.sandboxes.require(request.sandboxId ?? "")),
    })) satisfies Handler<"sandboxSnapshotFsAsync">,

    /** The snapshot's result, waiting up to `timeout` seconds (at most 50); no result while it still runs. */
    sandboxSnapshotFsAsyncGet: (async (request, context) => {
      const timeoutMs = Math.min(Math.max(request.timeout ?? 0, 0), MAX_SNAPSHOT_WAIT_SECONDS) * 1000;
      const outcome = await state.filesystemSnapshots.outcome(request.imageId ?? "", timeoutMs, context.signal);
      return {
        imageId: request.imageId ?? "",
        result: snapshotResultOf(outcome),
        imageMetadata: outcome?.ok ? { imageBuilderVersion: IMAGE_BUILDER_VERSION } : undefined,
      };
    }) satisfies Handler<"sandboxSnapshotFsAsyncGet">,

    /**
     * The sandbox's container usage so far: CPU time in core-nanoseconds and
     * memory-time in GiB-nanoseconds (resource-usage.ts); no GPU. A finished
     * sandbox answers its final totals.
     */
    sandboxGetResourceUsage: (async (request) => state.sandboxes.require(request.sandboxId ?? "").usage.usage()) satisfies Handler<"sandboxGetResourceUsage">,

    sandboxGetTunnels: (async (request) => tunnels(request.sandboxId ?? "")) satisfies Handler<"sandboxGetTunnels">,
    sandboxGetTunnelsV2: (async (request) => tunnels(request.sandboxId ?? "")) satisfies Handler<"sandboxGetTunnelsV2">,

    sandboxStdinWrite: (async (request) => {
      const sandbox = requireFamily(request.sandboxId ?? "", "v1");
      const index = request.index ?? 0;
      // Indexes are 1-based and increase by one per write: a repeated index is a retry.
      if (index < sandbox.v1StdinNextIndex) return {};
      sandbox.v1StdinNextIndex = index + 1;
      const entrypoint = sandbox.entrypoint;
      if (!entrypoint || entrypoint.status) return {};
      const data = Buffer.from(request.input ?? new Uint8Array());
      await entrypoint.writeStdin(entrypoint.stdinBytesWritten, data, request.eof ?? false).catch(() => undefined);
      return {};
    }) satisfies Handler<"sandboxStdinWrite">,

    /** V1 entrypoint output: batches of text entries, resumable by `lastEntryId` (a byte offset). */
    async *sandboxGetLogs(request: ControlPlaneStreamRequest<"sandboxGetLogs">, context: CallContext) {
      const sandbox = requireFamily(request.sandboxId ?? "", "v1");
      const buffer = request.fileDescriptor === FileDescriptor.stderr ? sandbox.entrypointStderr : sandbox.entrypointStdout;
      const lastEntryId = request.lastEntryId ?? "";
      let offset = /^\d+$/.test(lastEntryId) ? Number(lastEntryId) : 0;
      const deadline = AbortSignal.any([context.signal, AbortSignal.timeout(LOGS_STREAM_MAX_MS)]);
      const decoder = new StringDecoder("utf8");
      for await (const chunk of buffer.read(offset, LOGS_BATCH_BYTES, deadline)) {
        offset += chunk.length;
        const text = decoder.write(chunk);
        if (text.length === 0) continue;
        yield {
          entryId: String(offset),
          items: [{ data: text, fileDescriptor: request.fileDescriptor, timestamp: Date.now() / 1000 }],
          sandboxId: sandbox.sandboxId,
          taskId: sandbox.taskId,
        };
      }
      if (buffer.closed && offset >= buffer.length) {
        const rest = decoder.end();
        yield {
          entryId: String(offset),
          items: rest ? [{ data: rest, fileDescriptor: request.fileDescriptor }] : [],
          eof: true,
          sandboxId: sandbox.sandboxId,
        };
      }
    },

    /** Images are built inside `ImageGetOrCreate`, so joining reports the final result at once. */
    async *imageJoinStreaming(request: ControlPlaneStreamRequest<"imageJoinStreaming">) {
      const image = state.images.get(request.imageId ?? "");
      yield image
        ? { result: { status: GenericStatus.success }, entryId: "1", eof: true }
        : { result: { status: GenericStatus.failure, exception: `Unknown image ${request.imageId}` }, entryId: "1", eof: true };
    },
  };
  return handlers;
}
