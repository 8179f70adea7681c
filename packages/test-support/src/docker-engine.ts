import Docker from "dockerode";

/** The tiny offline image built by scripts/build-offline-images.sh. */
export const OFFLINE_BUSYBOX_IMAGE = "sandbox-busybox:latest";

/** Whether this is a CI run (`CI=true` or `CI=1`), where integration tests must run, never skip. */
export function isCI(environment: Record<string, string | undefined> = process.env): boolean {
  return environment.CI === "true" || environment.CI === "1";
}

/**
 * `undefined` when a Docker engine answers (`DOCKER_HOST`, else the default
 * socket), else one sentence saying why not and how to start one.
 */
export async function dockerEngineProblem(): Promise<string | undefined> {
  return new Docker().ping().then(
    () => undefined,
    (error: unknown) =>
      `no Docker engine answers (${error instanceof Error ? error.message : String(error)}): start one with bash scripts/start-docker-engine.sh, or set DOCKER_HOST`,
  );
}

/**
 * Whether a Docker engine answers. Integration tests are gated on it and say
 * so; under CI a missing engine throws instead, so a run there never skips.
 */
export async function dockerEngineAvailable(): Promise<boolean> {
  const problem = await dockerEngineProblem();
  if (problem !== undefined && isCI()) throw new Error(`CI is set but ${problem}: .ci/run must start one`);
  return problem === undefined;
}
