import { createSandboxRegistry, type SandboxRegistry } from "@sandbox/core";
import { localDockerProvider } from "@sandbox/local-docker";
import { DEFAULT_PROVIDER, PROVIDER_VARIABLE } from "./demo-config.js";

/**
 * The providers this demo can run on. `local-docker` is loaded eagerly (it is
 * the default); `modal` only when chosen, so the default path never loads the
 * Modal SDK or its gRPC stack.
 *
 * Which one is used: `runDemo({ provider })`, else `SANDBOX_PROVIDER`, else
 * {@link DEFAULT_PROVIDER}.
 */
export function createDemoRegistry(environment: Record<string, string | undefined> = process.env): SandboxRegistry {
  return createSandboxRegistry(
    {
      "local-docker": localDockerProvider,
      modal: () => import("@sandbox/modal").then((module) => module.modalProvider),
    },
    { defaultProvider: DEFAULT_PROVIDER, environmentVariable: PROVIDER_VARIABLE, environment },
  );
}
