import type { SandboxCapabilities, SandboxCapability } from "../contract/capabilities.js";
import { MAX_ENV_ENTRY_BYTES, MAX_ENV_TOTAL_BYTES } from "../contract/defaults.js";
import { SandboxError } from "../errors/sandbox-error.js";
import { type GpuRequest, MAX_SANDBOX_TIMEOUT_MS, SANDBOX_OPTION_KEYS, type SandboxOptions } from "./sandbox-options.js";
import { ENVIRONMENT_VARIABLE_NAME } from "./secret-store.js";

const SANDBOX_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const GPU_SPEC = /^([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?::(\d+))?$/;

// The Docker / OCI distribution reference grammar: [domain[:port]/]path[:tag][@digest].
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const IMAGE_REFERENCE = new RegExp(`^(?:${DOMAIN}/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::${TAG})?(?:@${DIGEST})?$`);

/** Who validates: the provider its errors name (shown as `[provider]` where an error is displayed). */
export interface ValidationContext {
  provider: string;
  /** Adapter-specific keys accepted on top of {@link SANDBOX_OPTION_KEYS}. */
  extraKeys?: readonly string[];
}

function invalid(context: ValidationContext, message: string, option: string): never {
  throw new SandboxError("INVALID_OPTIONS", {
    provider: context.provider,
    message: `invalid option "${option}": ${message}`,
    details: { option },
  });
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * Whether `reference` follows the image reference grammar Docker and OCI
 * registries use (`[registry[:port]/]name[:tag][@digest]`; the name in lower
 * case, at most 255 characters with its registry).
 */
export function isValidImageReference(reference: string): boolean {
  if (reference.length > 1024) return false;
  const match = IMAGE_REFERENCE.exec(reference);
  if (!match) return false;
  const tagOrDigest = reference.search(/[:@][^/]*$/);
  const name = tagOrDigest === -1 ? reference : reference.slice(0, tagOrDigest);
  return name.length <= 255;
}

/** True for an absolute POSIX path with no NUL byte and no `..` segment. */
export function isAbsoluteSandboxPath(path: unknown): path is string {
  return typeof path === "string" && path.startsWith("/") && !path.includes("\0") && !path.split("/").includes("..");
}

const utf8 = new TextEncoder();

/**
 * Checks an environment map; throws `INVALID_OPTIONS`/`INVALID_ARGUMENT`
 * naming the bad key (a variable over {@link MAX_ENV_ENTRY_BYTES}, or all of
 * them over {@link MAX_ENV_TOTAL_BYTES}, included).
 */
export function validateEnv(env: unknown, context: ValidationContext, option: string, code: "INVALID_OPTIONS" | "INVALID_ARGUMENT" = "INVALID_OPTIONS"): void {
  const fail = (message: string): never => {
    throw new SandboxError(code, { provider: context.provider, message: `invalid option "${option}": ${message}`, details: { option } });
  };
  if (!isPlainRecord(env)) fail("must be an object of string values");
  let totalBytes = 0;
  for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
    if (!ENVIRONMENT_VARIABLE_NAME.test(name)) fail(`"${name}" is not a valid environment variable name`);
    // The value is never quoted: it may be a secret.
    if (typeof value !== "string") fail(`the value of "${name}" must be a string`);
    if ((value as string).includes("\0")) fail(`the value of "${name}" contains a NUL byte`);
    const entryBytes = utf8.encode(`${name}=${value as string}`).byteLength;
    if (entryBytes > MAX_ENV_ENTRY_BYTES) {
      fail(
        `"${name}" is ${entryBytes} bytes as NAME=value, over the ${MAX_ENV_ENTRY_BYTES} Linux allows one variable (MAX_ENV_ENTRY_BYTES); pass large data as a file`,
      );
    }
    totalBytes += entryBytes;
  }
  if (totalBytes > MAX_ENV_TOTAL_BYTES) {
    fail(`the variables total ${totalBytes} bytes as NAME=value, over ${MAX_ENV_TOTAL_BYTES} (MAX_ENV_TOTAL_BYTES); pass large data as a file`);
  }
}

/** Parses `"A100:2"` into `{ type: "A100", count: 2 }`; throws `INVALID_OPTIONS` on nonsense. */
export function parseGpu(gpu: string, context: ValidationContext = { provider: "core" }): GpuRequest {
  const match = GPU_SPEC.exec(gpu.trim());
  if (!match) invalid(context, `"${gpu}" is not a GPU spec like "T4", "A100" or "A100:2"`, "gpu");
  const count = match![2] === undefined ? 1 : Number(match![2]);
  if (!Number.isInteger(count) || count < 1 || count > 8) invalid(context, `GPU count must be 1 to 8, got ${match![2]}`, "gpu");
  return { type: match![1]!.toUpperCase(), count };
}

/**
 * Validates common options before anything is created. Rejects unknown keys,
 * wrong types and nonsense values (negative cpu, relative workdir, a lifetime
 * that is not a whole number of seconds, ...) with `INVALID_OPTIONS` naming
 * the option. Secret values are never quoted in messages.
 */
export function validateSandboxOptions(options: unknown, context: ValidationContext): SandboxOptions {
  if (options === undefined) return {};
  if (!isPlainRecord(options)) invalid(context, "options must be an object", "options");
  const record = options as Record<string, unknown>;
  const allowed = new Set<string>([...SANDBOX_OPTION_KEYS, ...(context.extraKeys ?? [])]);
  for (const key of Object.keys(record)) {
    if (!allowed.has(key)) {
      invalid(context, `unknown option; accepted options are ${[...allowed].join(", ")}`, key);
    }
  }
  const { imageName, timeoutMs, workdir, gpu, cpu, memoryMiB, volumes, secrets, initialFiles, env, blockNetwork, name, ports } = record;
  if (imageName !== undefined && (typeof imageName !== "string" || imageName.trim() === "" || /\s/.test(imageName))) {
    invalid(context, "must be a non-empty image reference without spaces", "imageName");
  }
  if (imageName !== undefined && !isValidImageReference(imageName as string)) {
    invalid(
      context,
      `"${String(imageName)}" is not a valid image reference: expected [registry[:port]/]name[:tag][@digest] with the name in lower-case letters, digits and the separators . _ -`,
      "imageName",
    );
  }
  if (timeoutMs !== undefined) {
    if (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      invalid(context, "must be a positive whole number of milliseconds", "timeoutMs");
    }
    if ((timeoutMs as number) % 1000 !== 0) invalid(context, `must be a whole number of seconds (a multiple of 1000), got ${timeoutMs}`, "timeoutMs");
    if ((timeoutMs as number) > MAX_SANDBOX_TIMEOUT_MS) invalid(context, `must be at most ${MAX_SANDBOX_TIMEOUT_MS} (24 hours)`, "timeoutMs");
  }
  if (workdir !== undefined && !isAbsoluteSandboxPath(workdir)) invalid(context, "must be an absolute path without '..'", "workdir");
  if (gpu !== undefined) {
    if (typeof gpu !== "string") invalid(context, 'must be a string such as "T4" or "A100:2"', "gpu");
    parseGpu(gpu as string, context);
  }
  if (cpu !== undefined && (typeof cpu !== "number" || !Number.isFinite(cpu) || cpu <= 0 || cpu > 1024)) {
    invalid(context, `must be a number of cores greater than 0 and at most 1024, got ${shownAsPassed(cpu)}`, "cpu");
  }
  if (memoryMiB !== undefined && (typeof memoryMiB !== "number" || !Number.isInteger(memoryMiB) || memoryMiB < 6)) {
    invalid(context, "must be a whole number of MiB, at least 6", "memoryMiB");
  }
  if (volumes !== undefined) {
    if (!isPlainRecord(volumes)) invalid(context, "must map absolute mount paths to volume names", "volumes");
    for (const [mountPath, volumeName] of Object.entries(volumes as Record<string, unknown>)) {
      if (!isAbsoluteSandboxPath(mountPath) || mountPath === "/")
        invalid(context, `mount path "${mountPath}" must be an absolute path other than /`, "volumes");
      if (typeof volumeName !== "string" || !SANDBOX_NAME.test(volumeName)) {
        invalid(context, `volume name for "${mountPath}" must be 1-63 characters of letters, digits, '.', '_' or '-'`, "volumes");
      }
    }
  }
  if (secrets !== undefined) {
    if (!Array.isArray(secrets)) invalid(context, "must be an array of secret names", "secrets");
    for (const secretName of secrets as unknown[]) {
      if (typeof secretName !== "string" || !SANDBOX_NAME.test(secretName)) {
        invalid(context, "each secret name must be 1-63 characters of letters, digits, '.', '_' or '-'", "secrets");
      }
    }
  }
  if (initialFiles !== undefined) {
    if (!isPlainRecord(initialFiles)) invalid(context, "must map absolute paths to string or Uint8Array content", "initialFiles");
    for (const [path, content] of Object.entries(initialFiles as Record<string, unknown>)) {
      if (!isAbsoluteSandboxPath(path) || path.endsWith("/")) invalid(context, `"${path}" must be an absolute file path`, "initialFiles");
      if (typeof content !== "string" && !(content instanceof Uint8Array))
        invalid(context, `content of "${path}" must be a string or Uint8Array`, "initialFiles");
    }
  }
  if (env !== undefined) validateEnv(env, context, "env");
  if (blockNetwork !== undefined && typeof blockNetwork !== "boolean") invalid(context, "must be a boolean", "blockNetwork");
  if (name !== undefined && (typeof name !== "string" || !SANDBOX_NAME.test(name))) {
    invalid(context, "must be 1-63 characters of letters, digits, '.', '_' or '-', starting with a letter or digit", "name");
  }
  if (ports !== undefined) {
    if (!Array.isArray(ports)) invalid(context, "must be an array of TCP port numbers", "ports");
    const seen = new Set<number>();
    for (const port of ports as unknown[]) {
      if (!isPortNumber(port)) invalid(context, notAPortMessage(port), "ports");
      if (seen.has(port as number)) invalid(context, `port ${String(port)} is listed twice`, "ports");
      seen.add(port as number);
    }
  }
  return record as SandboxOptions;
}

/**
 * "<value> is not a TCP port ...", showing the value as passed: `NaN` and
 * `Infinity` as such (JSON would print `null`), strings quoted.
 */
export function notAPortMessage(value: unknown): string {
  return `${shownAsPassed(value)} is not a TCP port (a whole number 1-65535)`;
}

/**
 * A bad value as the caller passed it, for an error message: strings quoted
 * (`"1000"` is not the number 1000), `NaN` and `Infinity` as such (JSON
 * would print `null`), other objects by kind.
 */
export function shownAsPassed(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/** True for a whole number 1-65535. */
export function isPortNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65_535;
}

const OPTION_CAPABILITY: ReadonlyArray<[keyof SandboxOptions, SandboxCapability]> = [
  ["gpu", "gpu"],
  ["volumes", "volumes"],
  ["secrets", "secrets"],
  ["blockNetwork", "blockNetwork"],
  ["cpu", "resourceLimits"],
  ["memoryMiB", "resourceLimits"],
  ["name", "reconnectByName"],
  ["ports", "ports"],
];

/**
 * Throws `UNSUPPORTED_CAPABILITY` naming the provider and the option when an
 * option asks for something the provider cannot honour. `blockNetwork: false`
 * and empty maps ask for nothing and pass.
 */
export function assertOptionsSupported(options: SandboxOptions, provider: string, capabilities: SandboxCapabilities): void {
  for (const [option, capability] of OPTION_CAPABILITY) {
    const value = options[option];
    const asks =
      value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0) && !(isPlainRecord(value) && Object.keys(value).length === 0);
    if (asks && !capabilities[capability]) {
      throw new SandboxError("UNSUPPORTED_CAPABILITY", {
        provider,
        message: `provider "${provider}" does not support the "${option}" option (capability "${capability}")`,
        details: { option, capability },
      });
    }
  }
}
