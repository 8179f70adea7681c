import type { SandboxOptions } from "../options/sandbox-options.js";

/**
 * The options a warm pool cannot know when it starts a sandbox, applied when
 * a caller claims it: environment, secrets, working directory, initial files
 * and lifetime. Every other option is fixed at creation.
 */
export type SandboxClaim = Pick<SandboxOptions, "env" | "secrets" | "workdir" | "initialFiles" | "timeoutMs">;

/** The keys of {@link SandboxClaim}. */
export const SANDBOX_CLAIM_KEYS = ["env", "secrets", "workdir", "initialFiles", "timeoutMs"] as const satisfies ReadonlyArray<keyof SandboxClaim>;

/**
 * A claim as an adapter's `claimSandbox` receives it: validated, and with the
 * lifetime resolved (the default applied) so the adapter always enforces one.
 */
export type ResolvedSandboxClaim = Omit<SandboxClaim, "initialFiles" | "timeoutMs"> & { timeoutMs: number };
