import { DockerEngine } from "@sandbox/local-docker/engine";
import { IMAGE_VARIABLE, OFFLINE_PYTHON_IMAGE, PUBLIC_PYTHON_IMAGE } from "./demo-config.js";

/** The image a run uses and why, for the transcript. */
export interface ImageChoice {
  imageName: string;
  reason: string;
}

/**
 * Picks the sandbox image: `SANDBOX_IMAGE` when set; for local-docker the
 * offline `sandbox-python:bookworm` when the engine has it; otherwise
 * `python:3.12-slim` (local-docker pulls it when missing and a registry is
 * reachable; Modal has it; the Modal emulator maps it to the offline image).
 */
export async function chooseImage(provider: string, environment: Record<string, string | undefined> = process.env): Promise<ImageChoice> {
  const configured = environment[IMAGE_VARIABLE]?.trim();
  if (configured) return { imageName: configured, reason: `from ${IMAGE_VARIABLE}` };
  if (provider === "local-docker") {
    // An unreachable engine is reported by the sandbox creation itself, with what to do.
    const present = await new DockerEngine().imageExists(OFFLINE_PYTHON_IMAGE).catch(() => false);
    if (present) return { imageName: OFFLINE_PYTHON_IMAGE, reason: "offline image, built by scripts/build-offline-images.sh" };
    return { imageName: PUBLIC_PYTHON_IMAGE, reason: `${OFFLINE_PYTHON_IMAGE} not found; pulled when missing` };
  }
  if (provider === "modal" && environment.MODAL_SERVER_URL?.trim()) {
    return { imageName: PUBLIC_PYTHON_IMAGE, reason: `the Modal emulator maps python:* to ${OFFLINE_PYTHON_IMAGE}` };
  }
  return { imageName: PUBLIC_PYTHON_IMAGE, reason: "default" };
}
