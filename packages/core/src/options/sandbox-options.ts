/**
 * The options every provider accepts (the documented Modal option table,
 * shared by all adapters). Adapters add their own keys on top.
 */
export interface SandboxOptions {
  /** Container image. Default `"alpine:3.21"`. */
  imageName?: string;
  /**
   * Lifetime in milliseconds: the sandbox ends by itself after this, even if
   * the host process died. Positive whole number of seconds (Modal's unit).
   * Default 300000 (5 minutes); at most 24 hours.
   */
  timeoutMs?: number;
  /** Absolute working directory; created when missing. */
  workdir?: string;
  /**
   * GPU type, optionally with a count: `"T4"`, `"L4"`, `"A10G"`, `"A100"`,
   * `"A100-80GB"`, `"H100"`, `"A100:2"`. Providers without GPUs reject it.
   */
  gpu?: string;
  /** CPU cores, fractional allowed (e.g. `0.5`). Must be > 0. */
  cpu?: number;
  /** Memory in MiB (whole number, at least 6). */
  memoryMiB?: number;
  /** Mount path (absolute) -> volume name. */
  volumes?: Record<string, string>;
  /** Names of secrets to inject as environment variables. */
  secrets?: string[];
  /** Absolute path -> content; parent directories are created. */
  initialFiles?: Record<string, string | Uint8Array>;
  /** Environment variables for every command. */
  env?: Record<string, string>;
  /** Block all network access. */
  blockNetwork?: boolean;
  /** Sandbox name, unique within the app; lets `fromName` find it. */
  name?: string;
  /**
   * TCP ports inside the sandbox to make reachable from outside, each a whole
   * number 1-65535, no duplicates. Get the URL with `portUrl(port)`. Needs the
   * `ports` capability (else `UNSUPPORTED_CAPABILITY`); where it exists the
   * URL is provider-specific (local-docker: `http://127.0.0.1:<random host
   * port>`, published on the loopback interface only). Default: none.
   */
  ports?: number[];
}

/** The keys of {@link SandboxOptions}, for validation of unknown keys. */
export const SANDBOX_OPTION_KEYS = [
  "imageName",
  "timeoutMs",
  "workdir",
  "gpu",
  "cpu",
  "memoryMiB",
  "volumes",
  "secrets",
  "initialFiles",
  "env",
  "blockNetwork",
  "name",
  "ports",
] as const satisfies ReadonlyArray<keyof SandboxOptions>;

/** Longest lifetime accepted: 24 hours (Modal's maximum). */
export const MAX_SANDBOX_TIMEOUT_MS = 86_400_000;

/** A parsed `gpu` option. */
export interface GpuRequest {
  /** Upper-cased type, e.g. `"A100"`, `"A100-80GB"`, or `"ANY"`. */
  type: string;
  /** Number of GPUs, at least 1. */
  count: number;
}
