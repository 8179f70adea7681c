import { DEFAULT_IMAGE_NAME, DEFAULT_SANDBOX_TIMEOUT_MS, parseGpu, type SandboxOptions } from "@sandbox/core";
import type { ModalClient, SandboxCreateParams, Secret, Volume } from "modal";
import { MODAL_PROVIDER, ModalSandboxError } from "./modal-sandbox-error.js";

/** Modal API token pair, as created at https://modal.com/settings/tokens. */
export interface ModalAuth {
  /** Token id (`ak-...`). */
  tokenId: string;
  /** Token secret (`as-...`). Never appears in an error message. */
  tokenSecret: string;
}

/**
 * Options of {@link ModalSandbox}: the documented option table (shared by
 * every provider) plus Modal-specific ones. Every value is checked before any
 * network call; a bad one throws `INVALID_OPTIONS` naming the option.
 */
export interface ModalSandboxOptions extends SandboxOptions {
  /**
   * Modal App the sandbox runs in (created when missing). Sandbox names are
   * unique per app, and `fromName(appName, name)` looks them up here.
   * Default {@link DEFAULT_MODAL_APP_NAME} (`"sandbox"`).
   */
  appName?: string;
  /**
   * Credentials passed to `new ModalClient({ tokenId, tokenSecret })`. Default:
   * `MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET`, else the active `~/.modal.toml`
   * profile. Cannot be combined with `client`.
   */
  auth?: ModalAuth;
  /**
   * An existing `ModalClient` to use instead of creating one. The caller owns
   * it: `close()` leaves it open. Cannot be combined with `auth`.
   */
  client?: ModalClient;
  /** Default per-command timeout in ms. Default `DEFAULT_COMMAND_TIMEOUT_MS` (5 min). */
  commandTimeoutMs?: number;
  /** Default output cap per command in bytes. Default `DEFAULT_MAX_OUTPUT_BYTES` (1 MiB). */
  maxOutputBytes?: number;
}

/** App used when `appName` is not given. */
export const DEFAULT_MODAL_APP_NAME = "sandbox";

/** Option keys this adapter accepts on top of the common ones. */
export const MODAL_EXTRA_OPTION_KEYS = ["appName", "auth", "client", "commandTimeoutMs", "maxOutputBytes"] as const;

// Modal's object-name rule (the SDK's checkObjectName): letters, digits, '-', '_', '.', under 64 characters.
const MODAL_OBJECT_NAME = /^[A-Za-z0-9._-]{1,63}$/;
const MODAL_APP_ID = /^ap-[A-Za-z0-9]{22}$/;

function invalid(option: string, message: string): never {
  throw new ModalSandboxError("INVALID_OPTIONS", { message: `invalid option "${option}": ${message}`, details: { option } });
}

/**
 * Checks the Modal-specific options (the common ones are checked by core).
 * Token values are never quoted.
 */
export function validateModalOptions(options: ModalSandboxOptions): void {
  const { appName, auth, client } = options;
  if (appName !== undefined && (typeof appName !== "string" || !MODAL_OBJECT_NAME.test(appName) || MODAL_APP_ID.test(appName))) {
    invalid("appName", "must be 1-63 characters of letters, digits, '.', '_' or '-' (Modal's rule for App names)");
  }
  if (auth !== undefined) {
    if (typeof auth !== "object" || auth === null || Array.isArray(auth)) invalid("auth", "must be { tokenId, tokenSecret }");
    for (const key of Object.keys(auth)) {
      if (key !== "tokenId" && key !== "tokenSecret") invalid("auth", `unknown key "${key}"; expected { tokenId, tokenSecret }`);
    }
    for (const key of ["tokenId", "tokenSecret"] as const) {
      const value = (auth as unknown as Record<string, unknown>)[key];
      if (typeof value !== "string" || value.trim() === "" || /\s/.test(value)) invalid("auth", `${key} must be a non-empty string without spaces`);
    }
  }
  if (client !== undefined) {
    const candidate = client as unknown as Record<string, unknown> | null;
    if (typeof candidate !== "object" || candidate === null || typeof candidate.sandboxes !== "object" || typeof candidate.apps !== "object") {
      invalid("client", "must be a ModalClient from the modal package");
    }
    if (auth !== undefined) invalid("auth", "cannot be combined with \"client\": the client already carries its credentials");
  }
  if (options.name !== undefined && MODAL_APP_ID.test(options.name)) invalid("name", "must not look like a Modal App id (ap-...)");
}

/** The Modal objects `toSandboxCreateParams` needs, looked up beforehand. */
export interface ResolvedModalObjects {
  /** Mount path -> Volume (from `volumes`). */
  volumes: Record<string, Volume>;
  /** Secrets (from `secrets`), in option order. */
  secrets: Secret[];
}

/**
 * Translates validated options into the SDK's `sandboxes.create` parameters.
 * Pure apart from its inputs, so unit tests can check every mapping:
 *
 * - `timeoutMs` -> `timeoutMs` (lifetime; a whole number of seconds, default 300000);
 * - `gpu` "a100:2" -> `"A100:2"` (the SDK sends `gpuConfig { gpuType: "A100", count: 2 }`);
 * - `cpu` -> `cpu` and `cpuLimit` (fractional cores; request = hard limit, so the limit is enforced);
 * - `memoryMiB` -> `memoryMiB` and `memoryLimitMiB` (same: an enforced limit, OOM beyond it);
 * - `volumes` / `secrets` -> the looked-up `Volume` / `Secret` objects;
 * - `env`, `workdir`, `blockNetwork`, `name` as they are; `tags` as given.
 */
export function toSandboxCreateParams(options: ModalSandboxOptions, resolved: ResolvedModalObjects, tags: Record<string, string>): SandboxCreateParams {
  const params: SandboxCreateParams = {
    timeoutMs: options.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS,
    tags,
  };
  if (options.workdir !== undefined) params.workdir = options.workdir;
  if (options.gpu !== undefined) {
    const gpu = parseGpu(options.gpu, { provider: MODAL_PROVIDER });
    params.gpu = gpu.count > 1 ? `${gpu.type}:${gpu.count}` : gpu.type;
  }
  if (options.cpu !== undefined) {
    params.cpu = options.cpu;
    params.cpuLimit = options.cpu;
  }
  if (options.memoryMiB !== undefined) {
    params.memoryMiB = options.memoryMiB;
    params.memoryLimitMiB = options.memoryMiB;
  }
  if (Object.keys(resolved.volumes).length > 0) params.volumes = resolved.volumes;
  if (resolved.secrets.length > 0) params.secrets = resolved.secrets;
  if (options.env && Object.keys(options.env).length > 0) params.env = { ...options.env };
  if (options.blockNetwork) params.blockNetwork = true;
  if (options.name !== undefined) params.name = options.name;
  return params;
}

/** The image reference a sandbox is created from. */
export function imageNameOf(options: ModalSandboxOptions): string {
  return options.imageName ?? DEFAULT_IMAGE_NAME;
}
