export { DockerStreamDemuxer } from "./demux-stream.js";
export {
  type ContainerSpec,
  type ContainerSummary,
  DEFAULT_CAP_DROP,
  DEFAULT_PIDS_LIMIT,
  DockerEngine,
  type DockerEngineOptions,
  EngineContainer,
  type EngineExec,
  type EngineExecOptions,
  EXEC_MARKER_VARIABLE,
} from "./docker-engine.js";
export { EngineError, type EngineErrorKind } from "./engine-errors.js";
export {
  currentOwner,
  currentOwnerLabels,
  LABELS,
  type OwnerIdentity,
  ownerIsGone,
  processStart,
} from "./owner-labels.js";
export {
  ensureSandboxNetwork,
  hostFirewallUnsupportedReason,
  isSandboxNetwork,
  removeSandboxNetworkIfUnused,
  SANDBOX_NETWORKS,
  type SandboxNetworkKind,
} from "./sandbox-networks.js";
