import type { SandboxCapabilities } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { SANDBOX_SPECIFICATION_VERSION } from "../contract/specification-version.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import type { SandboxProvider } from "./sandbox-registry.js";

/** The static side of an adapter class: how it creates a sandbox and, when it can, reconnects to one. */
export interface SandboxClass<Options extends SandboxOptions, Sandbox extends SandboxBackend> {
  create(options?: Options): Promise<Sandbox>;
  fromId?(id: string): Promise<Sandbox>;
  fromName?(appName: string, name: string): Promise<Sandbox>;
}

/** What {@link defineSandboxProvider} needs: the registry key, a line for humans, the static capabilities and the adapter class. */
export interface SandboxProviderDefinition<Options extends SandboxOptions, Sandbox extends SandboxBackend> {
  name: string;
  description?: string;
  capabilities?: SandboxCapabilities;
  sandbox: SandboxClass<Options, Sandbox>;
}

/**
 * Builds an adapter's registry entry from its class: `create`, and `fromId` /
 * `fromName` when the class has them, each called on the class with only the
 * arguments the registry passes; `specificationVersion` is this core's.
 * Registers nothing: `createSandboxRegistry({ [provider.name]: provider })`.
 */
export function defineSandboxProvider<Options extends SandboxOptions, Sandbox extends SandboxBackend>(
  definition: SandboxProviderDefinition<Options, Sandbox>,
): SandboxProvider<Options, Sandbox> {
  const { sandbox } = definition;
  const fromId = sandbox.fromId ? { fromId: (id: string) => sandbox.fromId!(id) } : {};
  const fromName = sandbox.fromName ? { fromName: (appName: string, name: string) => sandbox.fromName!(appName, name) } : {};
  return {
    name: definition.name,
    specificationVersion: SANDBOX_SPECIFICATION_VERSION,
    ...(definition.description === undefined ? {} : { description: definition.description }),
    ...(definition.capabilities === undefined ? {} : { capabilities: definition.capabilities }),
    create: (options) => sandbox.create(options),
    ...fromId,
    ...fromName,
  };
}
