import { DockerEngine } from "../src/engine/index.js";

/**
 * Whether a Docker engine answers. Integration tests are gated on it and say
 * so; under CI a missing engine is a failure, never a silent skip.
 */
export async function engineAvailable(): Promise<boolean> {
  const available = await new DockerEngine().ping().then(
    () => true,
    () => false,
  );
  if (!available && process.env.CI) {
    throw new Error("CI=true but no Docker engine answers: .ci/run must start one (scripts/start-docker-engine.sh)");
  }
  return available;
}

/** The tiny offline image built by scripts/build-offline-images.sh. */
export const BUSYBOX_IMAGE = "sandbox-busybox:latest";