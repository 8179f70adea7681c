import { DEFAULT_IMAGE_NAME, DEFAULT_SANDBOX_TIMEOUT_MS, parseGpu, type SandboxOptions } from "@sandbox/core";
import type { ModalClient, SandboxCreateParams, Secret, Volume } from "modal";
import type { ModalCredentials } from "./credentials.js";
import { MODAL_PROVIDER, ModalSandboxError } from "./modal-sandbox-error.js";
import { MODAL_TAGS } from "./owner-tags.js";
import { encryptedPortsFor } from "./sandbox-tunnels.js";

/**
 * Credentials of the `auth` option: `{ tokenId?, tokenSecret? }`, either field
 * optional (the missing one comes from the environment). Same type as
 * {@link ModalCredentials}.
 */
export type ModalAuth = ModalCredentials;

/**
 * The sandbox create parameters of the pinned `modal` SDK (`SandboxCreateParams`)
 * that the common option table does not already cover. Their types are the
 * SDK's own, so they cannot drift from it; see {@link MODAL_SDK_PARAM_KEYS}.
 * (`cpu`, `memoryMiB`, `gpu`, `timeoutMs`, `workdir`, `env`, `blockNetwork`,
 * `name`, `volumes` and `secrets` come from the common table; `volumes` and
 * `secrets` take names, as in `@langchain/modal`, not SDK objects.)
 */
export type ModalSdkSandboxParams = Omit<SandboxCreateParams, keyof SandboxOptions>;

/**
 * Options of {@link ModalSandbox}: the documented option table (shared by
 * every provider), every other sandbox create parameter of the `modal` SDK
 * (passed through to `sandboxes.create`), plus adapter options. Every value
 * is checked before any network call; a bad one throws `INVALID_OPTIONS`
 * naming the option.
 *
 * Overlaps, and which one wins:
 * - `cpu` is the reservation; `cpuLimit` the hard limit. `cpu` alone sets
 *   both (an enforced limit); `cpuLimit` needs `cpu` and must be >= it (the SDK's rules).
 * - `memoryMiB` / `memoryLimitMiB`: the same.
 * - `tags` are added to the adapter's owner tags (`MODAL_TAGS`); a user tag
 *   with an owner tag's key is refused, so ownership and `reap()` cannot be fooled.
 * - `cidrAllowlist` (the SDK's former name) is accepted as `outboundCidrAllowlist`.
 */
export interface ModalSandboxOptions extends SandboxOptions, ModalSdkSandboxParams {
  /**
   * Modal App the sandbox runs in (created when missing). Sandbox names are
   * unique per app, and `fromName(appName, name)` looks them up here.
   * Default {@link DEFAULT_MODAL_APP_NAME} (`"deepagents-sandbox"`, as in `@langchain/modal`).
   */
  appName?: string;
  /**
   * Credentials passed to `new ModalClient({ tokenId, tokenSecret })` (one
   * client shared by the handles with the same credentials). Either
   * field may be left out: it then comes from `MODAL_TOKEN_ID` /
   * `MODAL_TOKEN_SECRET` (see {@link getAuthCredentials}). Without `auth`:
   * the environment, else the active `~/.modal.toml` profile. Cannot be
   * combined with `client`.
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
  /** Former SDK name of {@link ModalSdkSandboxParams.outboundCidrAllowlist}; accepted as that. */
  cidrAllowlist?: string[];
}

/** App used when `appName` is not given. */
export const DEFAULT_MODAL_APP_NAME = "deepagents-sandbox";

/**
 * Every key of {@link ModalSdkSandboxParams}: the SDK create parameters this
 * adapter passes through besides the common options. A type test
 * (`test/sdk-params.test-d.ts`) proves it lists exactly the SDK's keys.
 */
export const MODAL_SDK_PARAM_KEYS = [
  "cpuLimit",
  "memoryLimitMiB",
  "runtime",
  "idleTimeoutMs",
  "command",
  "cloudBucketMounts",
  "pty",
  "encryptedPorts",
  "h2Ports",
  "unencryptedPorts",
  "outboundCidrAllowlist",
  "outboundDomainAllowlist",
  "experimentalOutboundPolicy",
  "inboundCidrAllowlist",
  "i6pn",
  "cloud",
  "regions",
  "verbose",
  "proxy",
  "readinessProbe",
  "tags",
  "experimentalOptions",
  "customDomain",
  "includeOidcIdentityToken",
  "experimentalEnableSnapshot",
] as const satisfies ReadonlyArray<keyof ModalSdkSandboxParams>;

/** Option keys this adapter accepts on top of the common ones. */
export const MODAL_EXTRA_OPTION_KEYS = ["appName", "auth", "client", "commandTimeoutMs", "maxOutputBytes", "cidrAllowlist", ...MODAL_SDK_PARAM_KEYS] as const;

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
    if (typeof auth !== "object" || auth === null || Array.isArray(auth)) invalid("auth", "must be { tokenId?, tokenSecret? }");
    for (const key of Object.keys(auth)) {
      if (key !== "tokenId" && key !== "tokenSecret") invalid("auth", `unknown key "${key}"; expected { tokenId?, tokenSecret? }`);
    }
    for (const key of ["tokenId", "tokenSecret"] as const) {
      const value = (auth as unknown as Record<string, unknown>)[key];
      if (value !== undefined && (typeof value !== "string" || value.trim() === "" || /\s/.test(value)))
        invalid("auth", `${key} must be a non-empty string without spaces`);
    }
  }
  if (client !== undefined) {
    const candidate = client as unknown as Record<string, unknown> | null;
    if (typeof candidate !== "object" || candidate === null || typeof candidate.sandboxes !== "object" || typeof candidate.apps !== "object") {
      invalid("client", "must be a ModalClient from the modal package");
    }
    if (auth !== undefined) invalid("auth", 'cannot be combined with "client": the client already carries its credentials');
  }
  if (options.name !== undefined && MODAL_APP_ID.test(options.name)) invalid("name", "must not look like a Modal App id (ap-...)");
  validateSdkParams(options);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function checkBoolean(options: ModalSandboxOptions, key: keyof ModalSandboxOptions): void {
  const value = options[key];
  if (value !== undefined && typeof value !== "boolean") invalid(key, "must be a boolean");
}

function checkStringList(
  options: ModalSandboxOptions,
  key: keyof ModalSandboxOptions,
  what: string,
  test: (entry: string) => boolean,
  allowEmpty: boolean,
): void {
  const value = options[key] as unknown;
  if (value === undefined) return;
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) invalid(key, `must be ${allowEmpty ? "an" : "a non-empty"} array of ${what}`);
  for (const entry of value) {
    if (typeof entry !== "string" || !test(entry)) invalid(key, `must be an array of ${what}; got ${JSON.stringify(entry)?.slice(0, 80)}`);
  }
}

function checkPorts(options: ModalSandboxOptions, key: "encryptedPorts" | "h2Ports" | "unencryptedPorts"): void {
  const value = options[key] as unknown;
  if (value === undefined) return;
  if (!Array.isArray(value)) invalid(key, "must be an array of port numbers");
  for (const port of value) {
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      invalid(key, `must be an array of integers 1-65535; got ${JSON.stringify(port)?.slice(0, 40)}`);
  }
}

function checkWholeSeconds(options: ModalSandboxOptions, key: "idleTimeoutMs"): void {
  const value = options[key] as unknown;
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0 || value % 1000 !== 0)
    invalid(key, "must be a positive whole number of seconds in ms (a multiple of 1000)");
}

function checkSdkObject(
  options: ModalSandboxOptions,
  key: keyof ModalSandboxOptions,
  what: string,
  looksRight: (value: Record<string, unknown>) => boolean,
): void {
  const value = options[key] as unknown;
  if (value === undefined) return;
  if (typeof value !== "object" || value === null || !looksRight(value as Record<string, unknown>)) invalid(key, `must be ${what} from the modal SDK`);
}

const CIDR = /^(?:\d{1,3}\.){3}\d{1,3}(?:\/\d{1,2})?$|^[0-9A-Fa-f:]+(?:\/\d{1,3})?$/;
const DOMAIN = /^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;
const OWNER_TAG_KEYS: ReadonlySet<string> = new Set(Object.values(MODAL_TAGS));

/** Checks the SDK create parameters passed through (type and shape; the SDK's own cross-field rules). */
function validateSdkParams(options: ModalSandboxOptions): void {
  for (const [key, limit, base] of [
    ["cpuLimit", "cpu", "cpu"],
    ["memoryLimitMiB", "memoryMiB", "memoryMiB"],
  ] as const) {
    const value = options[key] as unknown;
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || (key === "memoryLimitMiB" && !Number.isInteger(value))) {
      invalid(key, key === "cpuLimit" ? "must be a positive number of cores" : "must be a positive whole number of MiB");
    }
    const request = options[base];
    if (request === undefined) invalid(key, `needs "${limit}" as well (the SDK's rule: a limit comes with a reservation)`);
    if ((value as number) < request) invalid(key, `must be at least "${limit}" (${request}), got ${value as number}`);
  }
  const runtime = options.runtime as unknown;
  if (runtime !== undefined && runtime !== "gvisor" && runtime !== "vm") invalid("runtime", 'must be "gvisor" or "vm"');
  checkWholeSeconds(options, "idleTimeoutMs");
  if (options.command !== undefined) {
    const command = options.command as unknown;
    if (!Array.isArray(command) || command.length === 0 || command.some((arg) => typeof arg !== "string" || arg.includes("\0"))) {
      invalid("command", "must be a non-empty array of strings (argv of the sandbox's main process)");
    }
  }
  if (options.cloudBucketMounts !== undefined) {
    if (!isPlainObject(options.cloudBucketMounts)) invalid("cloudBucketMounts", "must map absolute mount paths to CloudBucketMount objects");
    for (const [path, mount] of Object.entries(options.cloudBucketMounts)) {
      if (!path.startsWith("/")) invalid("cloudBucketMounts", `mount path "${path}" must be absolute`);
      if (!isPlainObject(mount) || typeof (mount as unknown as Record<string, unknown>).bucketName !== "string")
        invalid("cloudBucketMounts", `"${path}" must be a CloudBucketMount from the modal SDK (client.cloudBucketMounts.create)`);
    }
  }
  for (const key of ["pty", "i6pn", "verbose", "includeOidcIdentityToken", "experimentalEnableSnapshot"] as const) checkBoolean(options, key);
  for (const key of ["encryptedPorts", "h2Ports", "unencryptedPorts"] as const) checkPorts(options, key);
  for (const key of ["outboundCidrAllowlist", "inboundCidrAllowlist", "cidrAllowlist"] as const)
    checkStringList(options, key, 'CIDR strings such as "10.0.0.0/8"', (entry) => CIDR.test(entry), true);
  checkStringList(options, "outboundDomainAllowlist", 'domain names (a leading "*." allowed)', (entry) => DOMAIN.test(entry), true);
  checkStringList(options, "regions", "non-empty region names", (entry) => entry.trim() !== "", false);
  if (options.cidrAllowlist !== undefined && options.outboundCidrAllowlist !== undefined)
    invalid("cidrAllowlist", 'is the former name of "outboundCidrAllowlist"; give only one');
  for (const key of ["cloud", "customDomain"] as const) {
    const value = options[key] as unknown;
    if (value !== undefined && (typeof value !== "string" || value.trim() === "")) invalid(key, "must be a non-empty string");
  }
  checkSdkObject(options, "proxy", "a Proxy (client.proxies.fromName)", (value) => typeof value.proxyId === "string" && value.proxyId !== "");
  checkSdkObject(options, "readinessProbe", "a Probe (Probe.withTcp / Probe.withExec)", (value) => typeof value.toProto === "function");
  checkSdkObject(
    options,
    "experimentalOutboundPolicy",
    "an ExperimentalOutboundPolicy",
    (value) => typeof value._toProto === "function" && typeof value._validate === "function",
  );
  if (options.experimentalOptions !== undefined) {
    if (!isPlainObject(options.experimentalOptions)) invalid("experimentalOptions", "must be an object of boolean or string values");
    for (const [name, value] of Object.entries(options.experimentalOptions)) {
      if (typeof value !== "boolean" && typeof value !== "string") invalid("experimentalOptions", `"${name}" must be a boolean or a string`);
    }
  }
  if (options.tags !== undefined) {
    if (!isPlainObject(options.tags)) invalid("tags", "must be an object of string values");
    for (const [name, value] of Object.entries(options.tags)) {
      if (name.trim() === "") invalid("tags", "tag names must be non-empty");
      if (typeof value !== "string") invalid("tags", `"${name}" must be a string`);
      if (OWNER_TAG_KEYS.has(name)) invalid("tags", `"${name}" is an owner tag this adapter sets itself (MODAL_TAGS); choose another name`);
    }
  }
  if (options.blockNetwork) {
    for (const key of ["outboundCidrAllowlist", "cidrAllowlist", "outboundDomainAllowlist", "inboundCidrAllowlist", "experimentalOutboundPolicy"] as const) {
      if (options[key] !== undefined) invalid(key, 'cannot be combined with "blockNetwork" (it blocks all networking)');
    }
    if (options.i6pn) invalid("i6pn", 'cannot be combined with "blockNetwork" (it blocks all networking)');
  }
  if (options.experimentalOutboundPolicy !== undefined && (options.outboundDomainAllowlist?.length ?? 0) > 0) {
    invalid("experimentalOutboundPolicy", 'cannot be combined with "outboundDomainAllowlist" (the SDK\'s rule)');
  }
  if (options.experimentalEnableSnapshot && options.gpu !== undefined)
    invalid("experimentalEnableSnapshot", 'cannot be combined with "gpu" (snapshot sandboxes have no GPUs)');
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
 * - `cpu` -> `cpu`, and `cpuLimit` (when given) else `cpu` -> `cpuLimit`: without an
 *   explicit limit the request is also the hard limit, so it is enforced;
 * - `memoryMiB` / `memoryLimitMiB`: the same;
 * - `volumes` / `secrets` -> the looked-up `Volume` / `Secret` objects;
 * - `tags`: the user's `tags` plus `ownerTags` (owner keys cannot be overwritten:
 *   validation refuses them, and the owner tags are written last);
 * - `cidrAllowlist` -> `outboundCidrAllowlist`;
 * - `ports` -> `encryptedPorts` (TLS tunnels, Modal's default), unless a port
 *   is already listed in `unencryptedPorts` or `h2Ports`;
 * - `env`, `workdir`, `blockNetwork`, `name` and every other SDK parameter
 *   ({@link MODAL_SDK_PARAM_KEYS}) as they are.
 */
export function toSandboxCreateParams(options: ModalSandboxOptions, resolved: ResolvedModalObjects, ownerTags: Record<string, string>): SandboxCreateParams {
  const params: SandboxCreateParams = {
    timeoutMs: options.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS,
    tags: { ...(options.tags ?? {}), ...ownerTags },
  };
  for (const key of MODAL_SDK_PARAM_KEYS) {
    if (key === "tags" || options[key] === undefined) continue;
    (params as Record<string, unknown>)[key] = options[key];
  }
  if (options.cidrAllowlist !== undefined && params.outboundCidrAllowlist === undefined) params.outboundCidrAllowlist = options.cidrAllowlist;
  if (options.workdir !== undefined) params.workdir = options.workdir;
  if (options.gpu !== undefined) {
    const gpu = parseGpu(options.gpu, { provider: MODAL_PROVIDER });
    params.gpu = gpu.count > 1 ? `${gpu.type}:${gpu.count}` : gpu.type;
  }
  if (options.cpu !== undefined) {
    params.cpu = options.cpu;
    params.cpuLimit = options.cpuLimit ?? options.cpu;
  }
  if (options.memoryMiB !== undefined) {
    params.memoryMiB = options.memoryMiB;
    params.memoryLimitMiB = options.memoryLimitMiB ?? options.memoryMiB;
  }
  if (Object.keys(resolved.volumes).length > 0) params.volumes = resolved.volumes;
  if (resolved.secrets.length > 0) params.secrets = resolved.secrets;
  if (options.env && Object.keys(options.env).length > 0) params.env = { ...options.env };
  if (options.blockNetwork) params.blockNetwork = true;
  if (options.name !== undefined) params.name = options.name;
  const encryptedPorts = encryptedPortsFor(options);
  if (encryptedPorts !== undefined) params.encryptedPorts = encryptedPorts;
  return params;
}

/** The image reference a sandbox is created from. */
export function imageNameOf(options: ModalSandboxOptions): string {
  return options.imageName ?? DEFAULT_IMAGE_NAME;
}
