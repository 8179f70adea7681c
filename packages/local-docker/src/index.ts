export { LABELS as LOCAL_DOCKER_LABELS } from "@sandbox/docker-engine";
export { createLocalDockerSandboxFactory, createLocalDockerSandboxFactoryFromSandbox } from "./factories.js";
export { LOCAL_DOCKER_PROVIDER, LocalDockerSandboxError } from "./local-docker-error.js";
export { LOCAL_DOCKER_CAPABILITIES, LocalDockerSandbox, type LocalDockerSandboxOptions } from "./local-docker-sandbox.js";
export { createLocalDockerSandboxPool, type LocalDockerSandboxPoolSettings } from "./pool.js";
export { localDockerProvider } from "./provider.js";
export { localDockerSandboxExists, type ReapOptions, type ReapReport, reap } from "./reaper.js";
export { defaultSecretsFile } from "./secret-store.js";
