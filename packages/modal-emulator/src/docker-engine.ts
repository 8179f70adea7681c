/**
 * The Docker engine layer the emulator runs on: `@sandbox/docker-engine`
 * (shared with `@sandbox/local-docker`), re-exported here so the rest of the
 * emulator names one module.
 *
 * The emulator never talks to Docker through a second engine of its own; the
 * only direct dockerode use is `engine.docker` for image builds and removals,
 * which the engine layer leaves to its escape hatch.
 */
export type { ContainerSpec, DockerEngine, EngineContainer, EngineExec } from "@sandbox/docker-engine";
