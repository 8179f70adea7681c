export {
  CONTAINER_FILE_PROBLEM_MESSAGES,
  ContainerFileError,
  type ContainerFileProblem,
  type FileOperationCode,
  fileOperationCodeOf,
  problemOfEngineError,
  problemOfText,
} from "./container-file-problems.js";
export {
  type ArchivedFile,
  type ContainerFileRead,
  type ContainerReadLimits,
  openArchivedFile,
  readContainerFiles,
  readPlanOf,
  readThroughSandbox,
} from "./container-file-reads.js";
export { type ContainerFileWrite, type ContainerWriteOptions, writeContainerFiles, writeThroughSandbox } from "./container-file-writes.js";
export {
  BIND_MOUNTED_FILES,
  type ContainerPathKind,
  type ContainerPathOptions,
  ContainerPathResolver,
  type ContainerPathStat,
  isOnPseudoFilesystem,
  isWrittenInSandbox,
  PSEUDO_FILESYSTEM_ROOTS,
  type ResolvedContainerPath,
} from "./container-paths.js";
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
export { StreamedBuffer } from "./streamed-buffer.js";
export { type EngineTerminal, type EngineTerminalOptions, execTerminal } from "./terminal-exec.js";
