import type { SandboxCapabilities } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { SANDBOX_SPECIFICATION_VERSION, type SandboxSpecificationVersion } from "../contract/specification-version.js";
import { SandboxError } from "../errors/sandbox-error.js";
import type { SandboxOptions } from "../options/sandbox-options.js";

/**
 * How an adapter package describes itself to a registry. Adapters export one
 * of these (e.g. `localDockerProvider`); exporting it registers nothing.
 */
export interface SandboxProvider<Options extends SandboxOptions = SandboxOptions, Sandbox extends SandboxBackend = SandboxBackend> {
  /** Registry key, e.g. `"local-docker"`. */
  readonly name: string;
  /**
   * The contract version the adapter was written for: `"sandbox-v1"`
   * ({@link SANDBOX_SPECIFICATION_VERSION}). The registry refuses another.
   */
  readonly specificationVersion: SandboxSpecificationVersion;
  /** One line for humans: what the provider is and what it needs. */
  readonly description?: string;
  /** Creates and initializes a sandbox. */
  create(options?: Options): Promise<Sandbox>;
  /** Reconnects by id, when the provider supports it. */
  fromId?(id: string): Promise<Sandbox>;
  /** Reconnects by app and sandbox name, when the provider supports it. */
  fromName?(appName: string, name: string): Promise<Sandbox>;
  /** Static capabilities, when known without creating a sandbox. */
  readonly capabilities?: SandboxCapabilities;
}

/** A provider of any option and sandbox types, as a registry holds them. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds providers of every option type; `create` receives what the caller passed.
export type AnySandboxProvider = SandboxProvider<any, any>;

/** A provider, or a function that loads one (so heavy SDKs load only when chosen). */
export type SandboxProviderEntry = AnySandboxProvider | (() => AnySandboxProvider | Promise<AnySandboxProvider>);

/** Options of {@link SandboxRegistry.create}: the common options plus the provider choice. */
export type RegistryCreateOptions = SandboxOptions & {
  /** Registered provider name; see {@link SandboxRegistry.resolveName}. */
  provider?: string;
  /** Provider-specific options (e.g. Modal's `auth`, `appName`). */
  providerOptions?: Record<string, unknown>;
};

/** Settings of {@link createSandboxRegistry}. */
export interface SandboxRegistrySettings {
  /** Provider used when neither the call nor the environment names one. */
  defaultProvider?: string;
  /** Environment variable naming the provider. Default `"SANDBOX_PROVIDER"`. */
  environmentVariable?: string;
  /** Environment to read; default `process.env`. */
  environment?: Record<string, string | undefined>;
}

/**
 * Picks providers by name. Switching provider is one line of configuration:
 * the `provider` key, or the `SANDBOX_PROVIDER` environment variable; the
 * options and the agent code stay the same.
 */
export interface SandboxRegistry {
  /** Registered names, sorted. */
  names(): string[];
  /** Adds a provider under `name` (or its own name). Throws on a duplicate. */
  register(entry: SandboxProviderEntry, name?: string): SandboxRegistry;
  /** Which provider a call would use: explicit, then environment, then default. */
  resolveName(explicit?: string): string;
  /**
   * Loads a provider. @throws `UNKNOWN_PROVIDER` listing the registered names;
   * `INVALID_ARGUMENT` when it states another `specificationVersion`;
   * `PROVIDER_UNAVAILABLE` (the loader's error as `cause`) when a lazy entry
   * fails to load, e.g. its package is not installed (a `SandboxError` the
   * loader throws passes unchanged).
   */
  get(name?: string): Promise<AnySandboxProvider>;
  /**
   * Creates and initializes a sandbox with the chosen provider. A sandbox
   * stating another `specificationVersion` is closed again and rejected with
   * `INVALID_ARGUMENT`.
   */
  create(options?: RegistryCreateOptions): Promise<SandboxBackend>;
}

/**
 * Creates a registry. Nothing is registered by importing an adapter: pass
 * providers here or call `register`.
 *
 * @example
 * ```ts
 * const registry = createSandboxRegistry(
 *   { "local-docker": localDockerProvider, modal: () => import("@sandbox/modal").then((m) => m.modalProvider) },
 *   { defaultProvider: "local-docker" },
 * );
 * const sandbox = await registry.create({ imageName: "python:3.12-slim" }); // SANDBOX_PROVIDER=modal switches
 * ```
 */
/**
 * Refuses a provider or sandbox written for another contract version, with
 * `INVALID_ARGUMENT` naming the provider, what it states and what is expected.
 */
function assertSpecificationVersion(stated: unknown, what: string, provider: string): void {
  if (stated === SANDBOX_SPECIFICATION_VERSION) return;
  const statedText = stated === undefined ? "no specificationVersion" : `specificationVersion ${JSON.stringify(stated)}`;
  throw new SandboxError("INVALID_ARGUMENT", {
    message: `${what} "${provider}" states ${statedText}, but this @sandbox/core implements "${SANDBOX_SPECIFICATION_VERSION}": use an adapter release built for it`,
    details: { provider, specificationVersion: stated, expected: SANDBOX_SPECIFICATION_VERSION },
  });
}

/** @throws `INVALID_OPTIONS` naming `option` unless `value` is undefined or a plain object (not null, an array or a string). */
function assertOptionsObject(value: unknown, option: string): void {
  if (value === undefined || (typeof value === "object" && value !== null && !Array.isArray(value))) return;
  throw new SandboxError("INVALID_OPTIONS", {
    message: `invalid option "${option}": must be an object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`,
    details: { option },
  });
}

export function createSandboxRegistry(providers: Record<string, SandboxProviderEntry> = {}, settings: SandboxRegistrySettings = {}): SandboxRegistry {
  const entries = new Map<string, SandboxProviderEntry>();
  const loaded = new Map<string, Promise<AnySandboxProvider>>();
  const variable = settings.environmentVariable ?? "SANDBOX_PROVIDER";
  const environment = () => settings.environment ?? process.env;

  const registry: SandboxRegistry = {
    names: () => [...entries.keys()].sort(),
    register(entry, name) {
      if (typeof entry !== "function" && (typeof entry !== "object" || entry === null)) {
        throw new SandboxError("INVALID_ARGUMENT", {
          message: `register() needs a provider object or a function that loads one, got ${entry === null ? "null" : typeof entry}`,
        });
      }
      const key = name ?? (typeof entry === "function" ? undefined : entry.name);
      if (!key) throw new SandboxError("INVALID_ARGUMENT", { message: "a lazily loaded provider needs an explicit name" });
      if (entries.has(key)) throw new SandboxError("INVALID_ARGUMENT", { message: `provider "${key}" is already registered` });
      if (typeof entry !== "function") assertSpecificationVersion(entry.specificationVersion, "provider", key);
      entries.set(key, entry);
      return registry;
    },
    resolveName(explicit) {
      const fromEnvironment = environment()[variable]?.trim();
      const name = explicit ?? (fromEnvironment ? fromEnvironment : undefined) ?? settings.defaultProvider;
      if (!name) {
        throw new SandboxError("UNKNOWN_PROVIDER", {
          message: `no provider chosen: pass "provider" or set ${variable}; registered providers: ${registry.names().join(", ") || "none"}`,
        });
      }
      return name;
    },
    async get(name) {
      const key = registry.resolveName(name);
      const entry = entries.get(key);
      if (!entry) {
        throw new SandboxError("UNKNOWN_PROVIDER", {
          message: `unknown provider "${key}"; registered providers: ${registry.names().join(", ") || "none"}`,
          details: { provider: key, registered: registry.names() },
        });
      }
      if (typeof entry !== "function") return entry;
      // A lazy entry is loaded once; a failed load is retried on the next call.
      let loading = loaded.get(key);
      if (!loading) {
        loading = Promise.resolve()
          .then(entry)
          .catch((error: unknown) => {
            if (SandboxError.isInstance(error)) throw error;
            throw new SandboxError("PROVIDER_UNAVAILABLE", {
              message: `could not load provider "${key}": ${error instanceof Error ? error.message : String(error)}`,
              retryable: false,
              cause: error,
              details: { provider: key, reason: "load-failed" },
            });
          })
          .then((provider) => {
            assertSpecificationVersion(provider?.specificationVersion, "provider", key);
            return provider;
          });
        loaded.set(key, loading);
        loading.catch(() => loaded.delete(key));
      }
      return loading;
    },
    async create(options = {}) {
      assertOptionsObject(options, "options");
      assertOptionsObject(options.providerOptions, "providerOptions");
      const { provider: explicit, providerOptions, ...common } = options;
      const clash = Object.keys(providerOptions ?? {}).filter((key) => key in common);
      if (clash.length > 0) {
        throw new SandboxError("INVALID_OPTIONS", {
          message: `providerOptions repeats common option(s) ${clash.join(", ")}; set each option once`,
          details: { option: clash[0] },
        });
      }
      const provider = await registry.get(explicit);
      const sandbox = await provider.create({ ...common, ...(providerOptions ?? {}) });
      try {
        assertSpecificationVersion(sandbox.specificationVersion, "the sandbox of provider", provider.name);
      } catch (error) {
        await sandbox.close().catch(() => undefined);
        throw error;
      }
      return sandbox;
    },
  };
  for (const [name, entry] of Object.entries(providers)) registry.register(entry, name);
  return registry;
}
