import { defineSandboxProvider, type SandboxProvider } from "@sandbox/core";
import { LOCAL_DOCKER_PROVIDER } from "./local-docker-error.js";
import { LOCAL_DOCKER_CAPABILITIES, LocalDockerSandbox, type LocalDockerSandboxOptions } from "./local-docker-sandbox.js";

/**
 * The registry entry for this adapter. Exporting it registers nothing:
 * `createSandboxRegistry({ "local-docker": localDockerProvider })`.
 */
export const localDockerProvider: SandboxProvider<LocalDockerSandboxOptions, LocalDockerSandbox> = defineSandboxProvider({
  name: LOCAL_DOCKER_PROVIDER,
  description: "Containers on a local Docker engine (offline; needs a running engine and a local or pullable image)",
  capabilities: LOCAL_DOCKER_CAPABILITIES,
  sandbox: LocalDockerSandbox,
});
