/**
 * The demo's configuration. Switching the sandbox provider is ONE line:
 * set `SANDBOX_PROVIDER=modal` in the environment, or change
 * {@link DEFAULT_PROVIDER} below. Nothing else in the agent code changes.
 */

/** The one line: the provider used when `SANDBOX_PROVIDER` is not set. */
export const DEFAULT_PROVIDER = "local-docker";

/** Environment variable that overrides {@link DEFAULT_PROVIDER} (read by core's registry). */
export const PROVIDER_VARIABLE = "SANDBOX_PROVIDER";

/** Environment variable that overrides the image. */
export const IMAGE_VARIABLE = "SANDBOX_IMAGE";

/**
 * The image `bash scripts/build-offline-images.sh --only python` builds
 * (Debian bookworm + python3, no registry needed). Preferred for local-docker
 * when it is present.
 */
export const OFFLINE_PYTHON_IMAGE = "sandbox-python:bookworm";

/**
 * The public image used otherwise: pulled by local-docker when missing and a
 * registry is reachable, used as is by Modal, and mapped to
 * {@link OFFLINE_PYTHON_IMAGE} by the Modal emulator.
 */
export const PUBLIC_PYTHON_IMAGE = "python:3.12-slim";

/**
 * Sandbox lifetime: 10 minutes. The sandbox ends by itself after this even
 * if the demo process is killed with SIGKILL, so nothing outlives a crash
 * for long (`close()` removes it at once in every normal and Ctrl-C exit).
 */
export const SANDBOX_LIFETIME_MS = 600_000;

/** Claude model used when `ANTHROPIC_API_KEY` is set; `ANTHROPIC_MODEL` overrides it. */
export const DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6";

/** Upper bound on agent steps (model turns plus tool calls), so a confused model cannot loop forever. */
export const AGENT_RECURSION_LIMIT = 60;
