/**
 * What a provider can honour. An option or call whose capability is `false`
 * fails with `UNSUPPORTED_CAPABILITY` naming the provider and the option:
 * never a silent no-op.
 */
export interface SandboxCapabilities {
  /** `gpu` option: attach GPUs. */
  readonly gpu: boolean;
  /** `volumes` option: persistent named volumes that outlive a sandbox. */
  readonly volumes: boolean;
  /** `secrets` option: named secrets injected as environment variables. */
  readonly secrets: boolean;
  /** `blockNetwork` option: no network egress at all. */
  readonly blockNetwork: boolean;
  /** `cpu` and `memoryMiB` options: enforced resource limits. */
  readonly resourceLimits: boolean;
  /** `fromId(id)` returns a live handle from a fresh process. */
  readonly reconnectById: boolean;
  /** `fromName(appName, name)` returns a live handle; `name` option is honoured. */
  readonly reconnectByName: boolean;
  /** `timeoutMs` lifetime holds even when the host process dies. */
  readonly lifetime: boolean;
  /** `onStdout` / `onStderr` receive chunks while the command runs. */
  readonly streaming: boolean;
  /** A timed-out or aborted command's whole process tree is killed inside the sandbox. */
  readonly processKill: boolean;
  /**
   * `spawn()`: background processes with streamed stdout / stderr, stdin,
   * `wait()`, a confirmed `kill()` of the whole tree, per-process timeout.
   */
  readonly processes: boolean;
  /**
   * `listProcesses()` and `attachProcess(id, { fromOffset })`, also from a
   * handle made by `fromId` in another OS process: output replayed exactly
   * from a byte offset, then live. (Non-PTY processes; see `pty`.)
   */
  readonly processReattach: boolean;
  /** `spawn(command, { pty: { cols, rows } })`: a terminal, `resize()`, raw input. */
  readonly pty: boolean;
  /** `ports` option and `portUrl(port)`: a reachable URL for a port declared at create time. */
  readonly ports: boolean;
  /** `exposePort(port)`: a port can be added to a running sandbox. */
  readonly portsAtRuntime: boolean;
}

/** The names of all capabilities. */
export type SandboxCapability = keyof SandboxCapabilities;

/** Every capability name, in a stable order. */
export const SANDBOX_CAPABILITY_NAMES: readonly SandboxCapability[] = [
  "gpu",
  "volumes",
  "secrets",
  "blockNetwork",
  "resourceLimits",
  "reconnectById",
  "reconnectByName",
  "lifetime",
  "streaming",
  "processKill",
  "processes",
  "processReattach",
  "pty",
  "ports",
  "portsAtRuntime",
];

/** Capabilities with every flag set to `value`; a starting point for adapters. */
export function allCapabilities(value: boolean): SandboxCapabilities {
  return Object.fromEntries(SANDBOX_CAPABILITY_NAMES.map((name) => [name, value])) as unknown as SandboxCapabilities;
}

/**
 * A short, model-readable description of what the sandbox supports, for a
 * system prompt ("you cannot use the network", ...).
 */
export function describeCapabilities(provider: string, capabilities: SandboxCapabilities): string {
  const supported = SANDBOX_CAPABILITY_NAMES.filter((name) => capabilities[name]);
  const missing = SANDBOX_CAPABILITY_NAMES.filter((name) => !capabilities[name]);
  return `Sandbox provider "${provider}" supports: ${supported.join(", ") || "none"}; does not support: ${missing.join(", ") || "nothing listed"}.`;
}
