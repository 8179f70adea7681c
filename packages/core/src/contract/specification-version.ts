/**
 * The version of the sandbox contract (`SandboxBackend` and `SandboxProvider`)
 * an adapter was written for. Every backend and provider carries it as a
 * literal; `createSandboxRegistry` refuses a provider or sandbox that states
 * another one. It changes only with a breaking change of the contract (a
 * major release of `@sandbox/core`), like the AI SDK's `specificationVersion`.
 */
export const SANDBOX_SPECIFICATION_VERSION = "sandbox-v1";

/** The literal type of {@link SANDBOX_SPECIFICATION_VERSION}. */
export type SandboxSpecificationVersion = typeof SANDBOX_SPECIFICATION_VERSION;
