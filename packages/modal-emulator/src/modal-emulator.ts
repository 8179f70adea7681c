import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentOwnerLabels, DockerEngine, ownerIsGone } from "@sandbox/docker-engine";
import { type CallContext, createServer, ServerError, type ServerMiddlewareCall, Status } from "nice-grpc";
import { secretsEqual, TokenAuthority, tokenKeyFor } from "./auth-tokens.js";
import { createCommandRouterHandlers } from "./command-router-service.js";
import { createControlPlaneHandlers } from "./control-plane-service.js";
import { COMPONENT_LABEL, INSTANCE_LABEL, MANAGED_LABEL } from "./emulator-labels.js";
import { EmulatorState } from "./emulator-state.js";
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named in the docs
import type { DEFAULT_MAX_READ_FILE_BYTES } from "./filesystem-tools.js";
import { toServerError } from "./grpc-errors.js";
import { DEFAULT_IMAGE_ALIASES } from "./image-resolver.js";
import { appendBounded, type RecordedExecStart, type RecordedSandboxCreate } from "./inspection-log.js";
import { loadModalSdkDefinitions, type ServiceDefinition } from "./modal-sdk-definitions.js";
import { randomBase62 } from "./object-ids.js";
import type { SandboxFamily, SandboxResult } from "./sandbox-record.js";

export { COMPONENT_LABEL, INSTANCE_LABEL, MANAGED_LABEL } from "./emulator-labels.js";

const COMPONENT_NAME = "modal-emulator";
const CONTROL_PLANE_PREFIX = "/modal.client.ModalClient/";
const AUTH_TOKEN_GET_PATH = `${CONTROL_PLANE_PREFIX}AuthTokenGet`;
/** Largest gRPC message accepted or sent; the SDK allows 100 MiB. */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

/** Options of {@link startModalEmulator}. */
export interface ModalEmulatorOptions {
  /** TCP port; `0` (default) picks a free one. */
  port?: number;
  /**
   * Loopback host to bind, `"127.0.0.1"` (default) or `"localhost"`. The SDK
   * dials the command router without TLS only for these control-plane hosts.
   */
  host?: "127.0.0.1" | "localhost";
  /** The token id clients must send (`MODAL_TOKEN_ID`). */
  tokenId: string;
  /** The token secret clients must send (`MODAL_TOKEN_SECRET`). */
  tokenSecret: string;
  /** Named secrets served to `secrets.fromName`, name -> key/value pairs. */
  secrets?: Record<string, Record<string, string>>;
  /**
   * Registry tag -> local image, merged over {@link DEFAULT_IMAGE_ALIASES}.
   * Keys may end in `:*` to match every tag of a repository.
   */
  imageAliases?: Record<string, string>;
  /** Use {@link DEFAULT_IMAGE_ALIASES} under `imageAliases`. Default true. */
  defaultImageAliases?: boolean;
  /** The Docker engine layer to use; default: a new `DockerEngine()` (DOCKER_HOST or the local socket). */
  engine?: DockerEngine;
  /**
   * Pass GPU requests to the engine instead of refusing them. Default false:
   * every GPU request is recorded and refused with RESOURCE_EXHAUSTED.
   */
  gpuAvailable?: boolean;
  /**
   * Largest file a `sandbox.filesystem` read returns; a larger one answers
   * `FileTooLarge` (the SDK's `SandboxFilesystemFileTooLargeError`), as on
   * Modal. Default {@link DEFAULT_MAX_READ_FILE_BYTES} (5 GiB).
   */
  maxReadFileBytes?: number;
  /**
   * Image of the helper containers that copy volumes between their committed
   * state and each sandbox's copy (needs `sh`, `find`, `cp`, `stat`, `xargs`).
   * Default `sandbox-busybox:latest`.
   */
  volumeHelperImage?: string;
  /**
   * CA certificates (PEM) the egress proxy trusts, besides Node's root
   * certificates, when it forwards a sandbox's intercepted HTTPS requests
   * (`experimentalOutboundPolicy`) to their destination. Default none.
   */
  egressTrustedCertificates?: readonly string[];
  /**
   * Receives image pull and build progress lines, the lifecycle lines of
   * `verbose` sandboxes, and the egress proxy's lines (names only, never
   * header values).
   */
  onLog?: (line: string) => void;
}

/** One RPC the emulator received. */
export interface RecordedCall {
  /** Full method path, e.g. `/modal.client.ModalClient/SandboxCreateV2`. */
  path: string;
  /** gRPC status name it ended with; `OK` on success. */
  status: string;
  atMs: number;
}

/** A sandbox as the emulator sees it. */
export interface SandboxSummary {
  sandboxId: string;
  taskId: string;
  family: SandboxFamily;
  appId: string;
  name: string | undefined;
  tags: Readonly<Record<string, string>>;
  containerId: string;
  result: SandboxResult | undefined;
}

/** What tests can ask an emulator about the traffic it served. */
export interface ModalEmulatorInspector {
  /** Every sandbox create request received (V1 and V2), refused ones included, in order. */
  sandboxCreates(): ReadonlyArray<RecordedSandboxCreate>;
  /** Every exec started, in order. */
  execStarts(): ReadonlyArray<RecordedExecStart>;
  /** Every RPC received, in order. */
  calls(): ReadonlyArray<RecordedCall>;
  /** Methods called that the emulator does not implement. */
  unimplementedCalls(): ReadonlyArray<RecordedCall>;
  /** Every sandbox created, running or finished. */
  sandboxes(): ReadonlyArray<SandboxSummary>;
}

/** A running emulator. */
export interface ModalEmulator {
  /** Control-plane URL for `MODAL_SERVER_URL`, e.g. `http://127.0.0.1:43117`. */
  readonly url: string;
  readonly port: number;
  /** Environment a client process needs: `MODAL_SERVER_URL`, `MODAL_TOKEN_ID`, `MODAL_TOKEN_SECRET`. */
  readonly environment: Readonly<Record<string, string>>;
  /** The labels on every container and volume this emulator creates. */
  readonly labels: Readonly<Record<string, string>>;
  readonly inspect: ModalEmulatorInspector;
  /**
   * The public key of this emulator's identity-token issuer (JWKS), to verify
   * the `MODAL_IDENTITY_TOKEN` of sandboxes created with `includeOidcIdentityToken`.
   */
  readonly oidcJwks: { keys: ReadonlyArray<Record<string, unknown>> };
  /**
   * The CA this emulator signs its TLS tunnels' certificate with
   * (every port's `tunnel.url`; made fresh at each start): `certificatePem`,
   * and `certificatePath`, a file holding it while the emulator runs. A client
   * that trusts it reaches `tunnel.url` over https as on Modal: for Node,
   * `NODE_EXTRA_CA_CERTS=<certificatePath>` (read at process start) or the
   * `ca` option of `https.request` / `tls.connect` / `http2.connect`.
   */
  readonly tunnelCa: { readonly certificatePem: string; readonly certificatePath: string };
  /** Adds or replaces a named secret. */
  putSecret(name: string, values: Record<string, string>): void;
  /**
   * Stops serving, terminates every sandbox and removes every container,
   * volume and built image this emulator created. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Removes containers and volumes of emulators whose owner process is provably
 * gone (see {@link ownerIsGone}); containers also end by themselves at their
 * lifetime, this only makes the clean-up prompt.
 */
async function reapOrphans(engine: DockerEngine): Promise<void> {
  const selector = { [COMPONENT_LABEL]: COMPONENT_NAME };
  const containers = await engine.listContainers(selector).catch(() => []);
  await Promise.all(
    containers
      .filter((container) => ownerIsGone(container.labels))
      .map((container) =>
        engine
          .container(container.id)
          .remove()
          .catch(() => undefined),
      ),
  );
  const volumes = await engine.listVolumes(selector).catch(() => []);
  await Promise.all(volumes.filter((volume) => ownerIsGone(volume.labels)).map((volume) => engine.removeVolume(volume.name).catch(() => undefined)));
  // i6pn networks (i6pn-network.ts) of emulators that are gone.
  const networks = await engine.docker.listNetworks({ filters: { label: [`${COMPONENT_LABEL}=${COMPONENT_NAME}`] } }).catch(() => []);
  await Promise.all(
    networks
      .filter((network) => ownerIsGone(network.Labels ?? {}))
      .map((network) =>
        engine.docker
          .getNetwork(network.Id)
          .remove()
          .catch(() => undefined),
      ),
  );
}

/** The handlers, plus one for every other method of the service that answers UNIMPLEMENTED naming it. */
function withUnimplemented(definition: ServiceDefinition, handlers: Record<string, unknown>): Record<string, unknown> {
  const complete: Record<string, unknown> = { ...handlers };
  for (const [key, method] of Object.entries(definition.methods)) {
    if (key in complete) continue;
    const message = `modal-emulator does not implement ${definition.fullName}/${method.name}`;
    complete[key] = method.responseStream
      ? // biome-ignore lint/correctness/useYield: a server-streaming handler must be an async generator, even one that only throws.
        async function* unimplemented(): AsyncGenerator<never> {
          throw new ServerError(Status.UNIMPLEMENTED, message);
        }
      : async () => {
          throw new ServerError(Status.UNIMPLEMENTED, message);
        };
  }
  return complete;
}

/**
 * Starts an offline Modal: the control plane and the task command router of
 * `modal@0.11.1` on one loopback port (plaintext HTTP/2 gRPC), with sandboxes
 * as Docker containers.
 *
 * @throws EngineError("engine-unavailable") when no Docker engine answers.
 * @returns the running emulator; the caller owns it and must `stop()` it.
 */
export async function startModalEmulator(options: ModalEmulatorOptions): Promise<ModalEmulator> {
  if (!options.tokenId || !options.tokenSecret) throw new Error("startModalEmulator needs a tokenId and a tokenSecret");
  const host = options.host ?? "127.0.0.1";
  const engine = options.engine ?? new DockerEngine();
  await engine.ping();
  await reapOrphans(engine);
  const definitions = loadModalSdkDefinitions();
  const instanceId = randomBase62(12);
  const labels: Record<string, string> = {
    [MANAGED_LABEL]: "true",
    [COMPONENT_LABEL]: COMPONENT_NAME,
    [INSTANCE_LABEL]: instanceId,
    ...currentOwnerLabels(),
  };
  const state = new EmulatorState({
    engine,
    instanceId,
    labels,
    imageAliases: { ...(options.defaultImageAliases === false ? {} : DEFAULT_IMAGE_ALIASES), ...(options.imageAliases ?? {}) },
    secrets: options.secrets ?? {},
    gpuAvailable: options.gpuAvailable ?? false,
    ...(options.maxReadFileBytes !== undefined ? { maxReadFileBytes: options.maxReadFileBytes } : {}),
    ...(options.volumeHelperImage !== undefined ? { volumeHelperImage: options.volumeHelperImage } : {}),
    ...(options.egressTrustedCertificates !== undefined ? { egressTrustedCertificates: options.egressTrustedCertificates } : {}),
    ...(options.onLog ? { onProgress: options.onLog } : {}),
  });
  const tokens = new TokenAuthority(undefined, tokenKeyFor(options.tokenId, options.tokenSecret));
  const calls: RecordedCall[] = [];
  let routerUrl = "";

  async function* authenticate<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
    // biome-ignore lint/suspicious/noConfusingVoidType: nice-grpc's ServerMiddleware return type, spelled as the library spells it.
  ): AsyncGenerator<Response, Response | void, undefined> {
    const record: RecordedCall = { path: call.method.path, status: "OK", atMs: Date.now() };
    appendBounded(calls, record);
    try {
      if (call.method.path.startsWith(CONTROL_PLANE_PREFIX)) {
        const tokenId = context.metadata.get("x-modal-token-id");
        const tokenSecret = context.metadata.get("x-modal-token-secret");
        if (!secretsEqual(tokenId, options.tokenId) || !secretsEqual(tokenSecret, options.tokenSecret)) {
          throw new ServerError(Status.UNAUTHENTICATED, "Token missing or invalid: the token id or secret is not the one this modal-emulator was started with");
        }
        const authToken = context.metadata.get("x-modal-auth-token");
        if (call.method.path !== AUTH_TOKEN_GET_PATH && authToken !== undefined && tokens.verify(authToken)?.scope !== "control-plane") {
          throw new ServerError(Status.UNAUTHENTICATED, "x-modal-auth-token is invalid or expired");
        }
      } else {
        const authorization = context.metadata.get("authorization") ?? "";
        const claims = authorization.startsWith("Bearer ") ? tokens.verify(authorization.slice("Bearer ".length)) : undefined;
        if (claims?.scope !== "command-router") {
          throw new ServerError(Status.UNAUTHENTICATED, "command router token missing, invalid or expired");
        }
        const taskId = (call.request as { taskId?: unknown } | undefined)?.taskId;
        if (!call.requestStream && typeof taskId === "string" && taskId !== claims.subject) {
          throw new ServerError(Status.PERMISSION_DENIED, `the router token is for task ${claims.subject}, not ${taskId}`);
        }
      }
      return yield* call.next(call.request, context);
    } catch (error) {
      if (context.signal.aborted) throw error;
      const serverError = toServerError(error);
      record.status = Status[serverError.code] ?? String(serverError.code);
      throw serverError;
    }
  }

  const channelOptions = {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  };
  const server = createServer(channelOptions).use(authenticate);
  const controlPlane = withUnimplemented(definitions.controlPlane, createControlPlaneHandlers({ state, tokens, routerUrl: () => routerUrl }));
  const commandRouter = withUnimplemented(definitions.commandRouter, createCommandRouterHandlers(state));
  // The loaded definitions are ts-proto generic definitions; nice-grpc's
  // static types cannot see that through the untyped bundle boundary.
  server.add(definitions.controlPlane as never, controlPlane as never);
  server.add(definitions.commandRouter as never, commandRouter as never);
  const port = await server.listen(`${host}:${options.port ?? 0}`);
  const url = `http://${host}:${port}`;
  // The SDK insists on https:// for the router but dials it without TLS
  // when the control plane is on localhost/127.0.0.1, as here.
  routerUrl = `https://${host}:${port}`;

  // The tunnels' CA as a file, for NODE_EXTRA_CA_CERTS and other tools that take a path.
  const caDirectory = await mkdtemp(join(tmpdir(), "modal-emulator-ca-"));
  const caPath = join(caDirectory, "tunnel-ca.pem");
  await writeFile(caPath, state.tunnelCa.caPem, { mode: 0o644 });

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    environment: { MODAL_SERVER_URL: url, MODAL_TOKEN_ID: options.tokenId, MODAL_TOKEN_SECRET: options.tokenSecret },
    labels,
    inspect: {
      sandboxCreates: () => state.sandboxCreates,
      execStarts: () => state.execStarts,
      calls: () => calls,
      unimplementedCalls: () => calls.filter((call) => call.status === "UNIMPLEMENTED"),
      sandboxes: () =>
        state.sandboxes.all().map((sandbox) => ({
          sandboxId: sandbox.sandboxId,
          taskId: sandbox.taskId,
          family: sandbox.family,
          appId: sandbox.appId,
          name: sandbox.name,
          tags: sandbox.tags,
          containerId: sandbox.container.id,
          result: sandbox.result,
        })),
    },
    oidcJwks: state.oidc.jwks as { keys: Array<Record<string, unknown>> },
    tunnelCa: { certificatePem: state.tunnelCa.caPem, certificatePath: caPath },
    putSecret: (name, values) => {
      state.secrets.putNamed(name, values);
    },
    stop: () => {
      stopping ??= (async () => {
        // Ending sandboxes first wakes every long poll, so the server can close at once.
        await state.shutdown();
        server.forceShutdown();
        await rm(caDirectory, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
