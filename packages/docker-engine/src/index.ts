export {
  DEFAULT_CAP_DROP,
  DEFAULT_PIDS_LIMIT,
  DockerEngine,
  EXEC_MARKER_VARIABLE,
  EngineContainer,
  type ContainerSpec,
  type ContainerSummary,
  type DockerEngineOptions,
  type EngineExec,
  type EngineExecOptions,
} from "./docker-engine.js";
export { EngineError, type EngineErrorKind } from "./engine-errors.js";
export { DockerStreamDemuxer } from "./demux-stream.js";
export {
  LABELS,
  currentOwner,
  currentOwnerLabels,
  ownerIsGone,
  processStart,
  type OwnerIdentity,
} from "./owner-labels.js";
