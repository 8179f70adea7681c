import type { EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { EGRESS_TRUST_ENVIRONMENT, installEgressTrust } from "./egress-proxy.js";
import type { EmulatorState } from "./emulator-state.js";
import { fail } from "./grpc-errors.js";
import type { SandboxDefinition, TaskExecStartRequest } from "./modal-sdk-definitions.js";
import { NetworkAccessType } from "./protocol-values.js";
import { planVolumeMounts } from "./sandbox-definition.js";
import type { SandboxRecord } from "./sandbox-record.js";
import type { SecretSource } from "./secret-store.js";
import { containerInfoOf } from "./sidecars.js";

/** Longest a `TaskContainerWait` is held, seconds (the SDK asks for 10 and polls again). */
const MAX_CONTAINER_WAIT_SECONDS = 50;

/**
 * Why a sidecar cannot have an outbound allowlist of its own. It shares the
 * main container's network namespace, so iptables there sees its packets
 * and the main container's alike; the only mark that tells them apart is the
 * sending socket's cgroup (`-m cgroup`), which needs the sidecar in a cgroup
 * of its own before its first packet: a net_cls class id (cgroup v1) or a
 * cgroup2 path. On a cgroup v1 host without a net_cls hierarchy (as this
 * project's machines are, with Docker's cgroupfs driver) neither exists
 * without remounting the host's cgroups, and a rule added after the sidecar
 * starts would miss its first connections. On a cgroup2 host a pre-made
 * cgroup parent and `-m cgroup --path` would do; that is not implemented.
 */
const SIDECAR_ALLOWLIST_REFUSAL =
  "an outbound allowlist of its own (a sidecar shares the main container's network namespace: its packets can only be told apart by their cgroup, " +
  "which needs the sidecar in a cgroup of its own before its first packet (a net_cls class id, or a cgroup2 path); a cgroup v1 host without a net_cls hierarchy, " +
  "as this project's machines are, has neither, and the cgroup2 case is not implemented; the sandbox's own allowlist applies to its sidecars)";

/** What a sidecar create asks for, from either RPC. */
interface SidecarAsk {
  sandbox: SandboxRecord;
  name: string;
  imageId: string;
  args: string[];
  env: Record<string, string>;
  workdir: string;
  secretIds: string[];
  secretSources: SecretSource[] | undefined;
  volumeMounts: NonNullable<Partial<SandboxDefinition>["volumeMounts"]>;
  cloudBucketMounts: unknown[];
  networkAccessType: number | undefined;
  ptyInfo: TaskExecStartRequest["ptyInfo"];
  oidc: boolean;
  proxyId: string;
}

async function createSidecar(state: EmulatorState, ask: SidecarAsk): Promise<{ containerId: string; containerName: string }> {
  const unsupported = [
    ask.cloudBucketMounts.length > 0 && "cloudBucketMounts (cloud buckets cannot be reached offline)",
    ask.networkAccessType === NetworkAccessType.allowlist && SIDECAR_ALLOWLIST_REFUSAL,
    ask.proxyId && "a proxy (Modal Proxies, static outbound IPs of Modal's network, do not exist offline)",
  ].filter((reason): reason is string => typeof reason === "string" && reason !== "");
  if (unsupported.length > 0) fail(Status.INVALID_ARGUMENT, `modal-emulator's sidecars do not support ${unsupported.join(", ")}`);
  const image = state.images.get(ask.imageId);
  if (!image) fail(Status.NOT_FOUND, `Could not find image with ID ${ask.imageId}`);
  const env = state.secrets.resolveEnvironment(ask.secretIds, ask.secretSources, ask.env);
  if (ask.oidc) {
    // The sandbox's identity, as the main container's token (oidc-tokens.ts), signed by the same issuer.
    const app = state.apps.get(ask.sandbox.appId);
    env.MODAL_IDENTITY_TOKEN = state.oidc.mint({
      workspaceId: state.workspaceId,
      environmentName: app?.environmentName ?? "main",
      appId: ask.sandbox.appId,
      appName: app?.name ?? "",
      sandboxId: ask.sandbox.sandboxId,
      lifetimeSeconds: ask.sandbox.timeoutSecs,
    });
  }
  // The sidecar shares the sandbox's network namespace, so its HTTPS goes through the egress proxy too: it trusts the CA as the sandbox does.
  const egress = state.egressOf(ask.sandbox);
  if (egress) for (const [name, value] of Object.entries(EGRESS_TRUST_ENVIRONMENT)) env[name] ??= value;
  const sidecar = await state.sidecars.create(ask.sandbox, {
    ...(egress ? { prepare: (container: EngineContainer) => installEgressTrust(container, state.tunnelCa.caPem) } : {}),
    name: ask.name,
    dockerImage: image.dockerImage,
    args: ask.args,
    env,
    workdir: ask.workdir || undefined,
    volumes: planVolumeMounts({ volumeMounts: ask.volumeMounts }, (volumeId) => state.volumes.get(volumeId)),
    pty: ask.ptyInfo,
  });
  return { containerId: sidecar.containerId, containerName: sidecar.containerName };
}

// biome-ignore lint/suspicious/noExplicitAny: the generated request types of both RPCs are structurally loose here.
type Loose = any;

/** The control plane's `SandboxContainerCreateV2` (how the SDK creates sidecars of V2 sandboxes by default). */
export function createSidecarControlPlaneHandlers(state: EmulatorState) {
  return {
    async sandboxContainerCreateV2(request: Loose) {
      const sandbox = state.sandboxes.require(request.sandboxId ?? "");
      const definition = request.definition ?? {};
      return createSidecar(state, {
        sandbox,
        name: request.containerName ?? "",
        imageId: definition.imageId ?? "",
        args: definition.entrypointArgs ?? [],
        env: {},
        workdir: definition.workdir ?? "",
        secretIds: definition.secretIds ?? [],
        secretSources: request.secretSources,
        volumeMounts: definition.volumeMounts ?? [],
        cloudBucketMounts: definition.cloudBucketMounts ?? [],
        networkAccessType: definition.networkAccess?.networkAccessType,
        ptyInfo: definition.ptyInfo,
        oidc: Boolean(definition.includeOidcIdentityToken),
        proxyId: definition.proxyId ?? "",
      });
    },
  };
}

/** The task command router's `TaskContainer*` methods (create for V1 sandboxes, and get/list/terminate/wait). */
export function createSidecarRouterHandlers(state: EmulatorState) {
  const sandboxOf = (taskId: string): SandboxRecord => {
    const sandbox = state.sandboxes.byTask(taskId);
    if (!sandbox) fail(Status.NOT_FOUND, `Task ${taskId} not found`);
    return sandbox;
  };

  return {
    async taskContainerCreate(request: Loose) {
      return createSidecar(state, {
        sandbox: sandboxOf(request.taskId),
        name: request.containerName ?? "",
        imageId: request.imageId ?? "",
        args: request.args ?? [],
        env: request.env ?? {},
        workdir: request.workdir ?? "",
        secretIds: request.secretIds ?? [],
        secretSources: request.secretSources,
        volumeMounts: request.volumeMounts ?? [],
        cloudBucketMounts: [],
        networkAccessType: request.networkAccess?.networkAccessType,
        ptyInfo: request.ptyInfo,
        oidc: false,
        proxyId: "",
      });
    },

    async taskContainerGet(request: { taskId: string; containerName: string; includeTerminated: boolean }) {
      const sidecar = state.sidecars.byName(sandboxOf(request.taskId), request.containerName, request.includeTerminated);
      if (!sidecar) fail(Status.NOT_FOUND, `Sidecar container "${request.containerName}" not found`);
      return { container: containerInfoOf(sidecar) };
    },

    async taskContainerList(request: { taskId: string; includeTerminated: boolean }) {
      return { containers: state.sidecars.list(sandboxOf(request.taskId), request.includeTerminated).map(containerInfoOf) };
    },

    async taskContainerTerminate(request: { taskId: string; containerId: string }) {
      await state.sidecars.terminate(state.sidecars.require(sandboxOf(request.taskId), request.containerId));
      return {};
    },

    async taskContainerWait(request: { taskId: string; containerId: string; timeout: number }) {
      const sidecar = state.sidecars.require(sandboxOf(request.taskId), request.containerId);
      const result = await sidecar.waitFor(Math.min(MAX_CONTAINER_WAIT_SECONDS, request.timeout || 0) * 1000);
      return { result: result ? { status: result.status, exitcode: result.exitcode, exception: result.exception } : undefined };
    },
  };
}
