export { LOCAL_DOCKER_CAPABILITIES, LocalDockerSandbox, type LocalDockerSandboxOptions } from "./local-docker-sandbox.js";
export { LOCAL_DOCKER_PROVIDER, LocalDockerSandboxError } from "./local-docker-error.js";
export { createLocalDockerSandboxFactory, createLocalDockerSandboxFactoryFromSandbox } from "./factories.js";
export { localDockerProvider } from "./provider.js";
export { localDockerSandboxExists, reap, type ReapOptions, type ReapReport } from "./reaper.js";
export { LABELS as LOCAL_DOCKER_LABELS } from "@sandbox/docker-engine";
export { defaultSecretsFile } from "./secret-store.js";
export { createLocalDockerSandboxPool, type LocalDockerSandboxPoolSettings } from "./pool.js";
