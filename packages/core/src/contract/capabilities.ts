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
