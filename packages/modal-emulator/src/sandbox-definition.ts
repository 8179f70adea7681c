import { type ContainerSpec, LABELS } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { MODAL_OBJECT_LABELS } from "./emulator-labels.js";
import { fail } from "./grpc-errors.js";
import type { SandboxDefinition } from "./modal-sdk-definitions.js";
import { allowlistUnsupportedReason, type OutboundAllowlist, validateCidrs } from "./network-policy.js";
import type { OutboundPolicyMessage } from "./outbound-policy.js";
import { NetworkAccessType } from "./protocol-values.js";
import type { ProbeDefinition } from "./readiness-probe.js";
import { validatePlacementAndOptions } from "./sandbox-options.js";
import { checkOpenPorts, type OpenPort } from "./sandbox-tunnels.js";
import type { VolumeRecord } from "./volume-store.js";

/** Modal's default sandbox lifetime when the definition names none. */
const DEFAULT_TIMEOUT_SECS = 300;
/**
 * Extra life given to the container past the sandbox timeout: the emulator's
 * own timer normally ends the sandbox (and reports TIMEOUT) first, while the
 * container still ends by itself, this little later, if the emulator died.
 */
export const CONTAINER_LIFETIME_GRACE_MS = 2_000;

/** A volume mount a definition asks for, checked and resolved to its volume. */
export interface PlannedVolumeMount {
  volume: VolumeRecord;
  mountPath: string;
  readOnly: boolean;
  /** The directory of the volume to mount, relative, without leading or trailing slashes. */
  subPath: string;
}

/** What the emulator takes from a valid sandbox definition. */
export interface CheckedDefinition {
  timeoutSecs: number;
  idleTimeoutSecs: number | undefined;
  gpu: { count: number; type?: string } | undefined;
  blockNetwork: boolean;
  allowlist: OutboundAllowlist | undefined;
  readinessProbe: ProbeDefinition | undefined;
  /** Ports to open as tunnels on 127.0.0.1 (see sandbox-tunnels.ts). */
  openPorts: OpenPort[];
  /** `inboundCidrAllowlist`: client addresses allowed on the tunnels and connect tokens; empty: all. */
  inboundCidrs: string[];
  /** `i6pn`: join the emulator's private IPv6 network (i6pn-network.ts). */
  i6pn: boolean;
  /** `experimentalOutboundPolicy`, as sent (resolved against the secrets at create; see outbound-policy.ts). */
  outboundPolicy: OutboundPolicyMessage | undefined;
}

/**
 * Sandbox create parameters the emulator cannot honour, each refused with
 * INVALID_ARGUMENT naming the SDK parameter, so none is silently dropped.
 */
function refuseUnsupportedDefinitionFields(definition: Record<string, unknown>): void {
  const refuse = (parameter: string, why: string): never => fail(Status.INVALID_ARGUMENT, `modal-emulator does not support ${parameter}: ${why}`);
  const nonEmpty = (value: unknown) =>
    Array.isArray(value) ? value.length > 0 : typeof value === "string" ? value !== "" : value !== undefined && value !== null;
  if (nonEmpty(definition.runtime)) refuse("runtime", "sandboxes run as Docker containers with the engine's default runtime");
  if (nonEmpty(definition.proxyId)) refuse("proxy", "it has no Modal Proxies");
  const experimental = definition.experimentalOptionsV2 as Record<string, unknown> | undefined;
  if (experimental && Object.keys(experimental).length > 0)
    refuse(`experimentalOptions (${Object.keys(experimental).join(", ")})`, "it knows no other experimental options");
  if (nonEmpty(definition.customDomain)) refuse("customDomain", "it serves no domains");
  if (definition.enableSnapshot === true) refuse("experimentalEnableSnapshot", "it has no memory snapshots");
  if ((definition.cloudBucketMounts as unknown[] | undefined)?.length) refuse("cloud bucket mounts (cloudBucketMounts)", "there is no cloud storage offline");
}

/**
 * Checks a sandbox definition the way Modal does before anything is created:
 * GPU availability, network access (allowlists need iptables), ports,
 * placement and options, the readiness probe, and every field the emulator
 * cannot honour.
 */
export async function checkSandboxDefinition(definition: Partial<SandboxDefinition>, host: { gpuAvailable: boolean }): Promise<CheckedDefinition> {
  const gpuConfig = definition.resources?.gpuConfig;
  const gpuCount = gpuConfig ? gpuConfig.count || (gpuConfig.gpuType ? 1 : 0) : 0;
  if (gpuCount > 0 && !host.gpuAvailable) {
    fail(
      Status.RESOURCE_EXHAUSTED,
      `GPU ${gpuConfig?.gpuType || "any"}:${gpuCount} requested, but this modal-emulator host has no GPU ` +
        "(start the emulator with gpuAvailable on a host whose Docker engine exposes GPUs).",
    );
  }
  const networkType = definition.networkAccess?.networkAccessType ?? NetworkAccessType.open;
  let allowlist: OutboundAllowlist | undefined;
  if (networkType === NetworkAccessType.allowlist) {
    allowlist = { cidrs: definition.networkAccess?.allowedCidrs ?? [], domains: definition.networkAccess?.allowedDomains ?? [] };
    validateCidrs(allowlist.cidrs);
    const unsupported = await allowlistUnsupportedReason();
    if (unsupported)
      fail(Status.FAILED_PRECONDITION, `modal-emulator enforces outbound allowlists with iptables in the sandbox's network namespace, but ${unsupported}`);
  }
  const openPorts = checkOpenPorts(definition);
  if (openPorts.length > 0 && networkType === NetworkAccessType.blocked)
    fail(Status.INVALID_ARGUMENT, "a sandbox with blockNetwork has no network: it cannot open ports (encryptedPorts, h2Ports, unencryptedPorts)");
  const inboundCidrs = definition.inboundCidrAllowlist ?? [];
  if (inboundCidrs.length > 0 && networkType === NetworkAccessType.blocked)
    fail(Status.INVALID_ARGUMENT, "inboundCidrAllowlist cannot be used with blockNetwork: a sandbox without a network has no inbound connections");
  validateCidrs(inboundCidrs, "inboundCidrAllowlist");
  const i6pn = definition.i6pnEnabled === true;
  if (i6pn && networkType === NetworkAccessType.blocked)
    fail(Status.INVALID_ARGUMENT, "i6pn cannot be used with blockNetwork: a sandbox without a network cannot join the private IPv6 network");
  const outboundPolicy = (definition as { experimentalOutboundPolicy?: OutboundPolicyMessage }).experimentalOutboundPolicy;
  if (outboundPolicy) {
    if (networkType === NetworkAccessType.blocked) fail(Status.INVALID_ARGUMENT, "experimentalOutboundPolicy cannot be used when blockNetwork is enabled");
    if ((definition.networkAccess?.allowedDomains ?? []).length > 0)
      fail(Status.INVALID_ARGUMENT, "experimentalOutboundPolicy cannot be used with outboundDomainAllowlist");
    const unsupported = await allowlistUnsupportedReason();
    if (unsupported)
      fail(
        Status.FAILED_PRECONDITION,
        `modal-emulator redirects outbound HTTPS to its egress proxy (experimentalOutboundPolicy) with iptables in the sandbox's network namespace, but ${unsupported}`,
      );
  }
  validatePlacementAndOptions(definition);
  const readinessProbe = definition.readinessProbe as ProbeDefinition | undefined;
  if (readinessProbe && !(readinessProbe.tcpPort && readinessProbe.tcpPort > 0) && !readinessProbe.execCommand?.argv?.length) {
    fail(Status.INVALID_ARGUMENT, "readinessProbe needs a TCP port or an exec command");
  }
  refuseUnsupportedDefinitionFields(definition as Record<string, unknown>);
  return {
    timeoutSecs: definition.timeoutSecs && definition.timeoutSecs > 0 ? definition.timeoutSecs : DEFAULT_TIMEOUT_SECS,
    idleTimeoutSecs: definition.idleTimeoutSecs && definition.idleTimeoutSecs > 0 ? definition.idleTimeoutSecs : undefined,
    gpu: gpuCount > 0 ? { count: gpuCount, ...(gpuConfig?.gpuType ? { type: gpuConfig.gpuType } : {}) } : undefined,
    blockNetwork: networkType === NetworkAccessType.blocked,
    allowlist,
    readinessProbe,
    openPorts,
    inboundCidrs,
    i6pn,
    outboundPolicy,
  };
}

/** Resolves and checks the definition's volume mounts (each volume must exist; `subPath` stays inside the volume). */
export function planVolumeMounts(definition: Partial<SandboxDefinition>, volumeOf: (volumeId: string) => VolumeRecord | undefined): PlannedVolumeMount[] {
  return (definition.volumeMounts ?? []).map((mount) => {
    const volume = volumeOf(mount.volumeId ?? "");
    if (!volume) fail(Status.NOT_FOUND, `Volume ${mount.volumeId} not found`);
    const subPath = (mount.subPath ?? "").replace(/^\/+|\/+$/g, "");
    if (subPath.split("/").some((part) => part === ".." || part === ".")) {
      fail(Status.INVALID_ARGUMENT, `Volume subPath '${mount.subPath}' must be a relative path inside the volume, without '.' or '..'`);
    }
    return { volume, mountPath: mount.mountPath ?? "", readOnly: mount.readOnly ?? false, subPath };
  });
}

/**
 * Docker's counterparts of Modal's resource requests: `cpu` becomes CPU
 * shares (1024 per core: a relative weight under contention, no cap) and
 * `memoryMiB` a memory reservation (a soft limit the kernel reclaims towards
 * under memory pressure). Docker refuses a reservation not below the hard
 * limit, so one equal to `memoryLimitMiB` is left to the limit.
 */
export function reservationOf(definition: Partial<SandboxDefinition>): { CpuShares?: number; MemoryReservation?: number } | undefined {
  const milliCpu = definition.resources?.milliCpu ?? 0;
  const memoryMb = definition.resources?.memoryMb ?? 0;
  const memoryLimitMb = definition.resources?.memoryMbMax || 0;
  const update: { CpuShares?: number; MemoryReservation?: number } = {};
  if (milliCpu > 0) update.CpuShares = Math.max(2, Math.round((milliCpu * 1024) / 1000));
  if (memoryMb > 0 && (memoryLimitMb === 0 || memoryMb < memoryLimitMb)) update.MemoryReservation = memoryMb * 1024 * 1024;
  return Object.keys(update).length > 0 ? update : undefined;
}

/** What {@link containerSpecOf} builds a container from. */
export interface ContainerSpecInput {
  sandboxId: string;
  appId: string;
  dockerImage: string;
  definition: Partial<SandboxDefinition>;
  checked: CheckedDefinition;
  environment: Record<string, string>;
  /** Labels every emulator container carries. */
  labels: Record<string, string>;
  /** Docker volumes to mount (the sandbox's private copies). */
  volumes: NonNullable<ContainerSpec["volumes"]>;
  nowMs: number;
}

/**
 * The container behind a sandbox: limits are hard limits (`cpuLimit`,
 * `memoryLimitMiB`; the requests become reservations, see
 * {@link reservationOf}), the lifetime is the sandbox timeout plus a grace,
 * and the labels name the sandbox, its app and when it expires. Pure.
 */
export function containerSpecOf(input: ContainerSpecInput): ContainerSpec {
  const { definition, checked } = input;
  const milliCpuLimit = definition.resources?.milliCpuMax || 0;
  const memoryLimitMb = definition.resources?.memoryMbMax || 0;
  const lifetimeMs = checked.timeoutSecs * 1000 + CONTAINER_LIFETIME_GRACE_MS;
  return {
    image: input.dockerImage,
    name: `modal-emulator-${input.sandboxId}`,
    labels: {
      ...input.labels,
      [MODAL_OBJECT_LABELS.sandboxId]: input.sandboxId,
      [MODAL_OBJECT_LABELS.appId]: input.appId,
      [LABELS.expiresAt]: String(input.nowMs + lifetimeMs),
    },
    env: input.environment,
    ...(definition.workdir ? { workdir: definition.workdir } : {}),
    ...(milliCpuLimit > 0 ? { cpu: milliCpuLimit / 1000 } : {}),
    ...(memoryLimitMb > 0 ? { memoryMiB: memoryLimitMb } : {}),
    blockNetwork: checked.blockNetwork,
    // No engine port publishing: the emulator's own listeners are the only way in (sandbox-tunnels.ts),
    // so no client gets around their TLS or the inboundCidrAllowlist.
    volumes: input.volumes,
    lifetimeMs,
    ...(checked.gpu ? { gpu: checked.gpu } : {}),
  };
}
