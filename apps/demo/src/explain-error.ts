import { SandboxError } from "@sandbox/core";
import { IMAGE_VARIABLE, OFFLINE_PYTHON_IMAGE, PROVIDER_VARIABLE } from "./demo-config.js";

/** What {@link explainError} needs to know about the run that failed. */
export interface FailureContext {
  provider?: string;
  imageName?: string;
  environment?: Record<string, string | undefined>;
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 240 ? `${line.slice(0, 237)}...` : line;
}

function isModuleNotFound(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : "";
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(specifier);
}

/**
 * The error and its causes, outermost first (cycle-safe, bounded). LangChain
 * wraps a failure once per agent middleware, so the informative error is
 * often several `cause`s deep.
 */
export function errorChain(error: unknown, limit = 16): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < limit && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

function className(error: unknown): string | undefined {
  const name = (error as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === "string" ? name : undefined;
}

function isAnthropicAuthFailure(error: unknown): boolean {
  const candidate = error as { status?: unknown; lc_error_code?: unknown; name?: unknown } | null;
  return (
    candidate?.status === 401 ||
    candidate?.lc_error_code === "MODEL_AUTHENTICATION" ||
    candidate?.name === "AuthenticationError" ||
    className(error) === "AuthenticationError"
  );
}

function isModelConnectionFailure(error: unknown): boolean {
  return className(error) === "APIConnectionError" || className(error) === "APIConnectionTimeoutError";
}

/**
 * Turns a failure a newcomer can hit into ONE sentence saying what happened
 * and what to do. Switches on `SandboxError` codes, never on provider text,
 * except to tell an unavailable image from other creation failures.
 */
export function explainError(thrown: unknown, context: FailureContext = {}): string {
  const chain = errorChain(thrown);
  // A sandbox failure inside an agent step arrives wrapped by LangChain: explain the SandboxError itself.
  const error = chain.find((entry) => SandboxError.isInstance(entry)) ?? thrown;
  const environment = context.environment ?? process.env;
  const provider = context.provider ?? (SandboxError.isInstance(error) ? error.provider : undefined);
  const emulatorUrl = environment.MODAL_SERVER_URL?.trim();

  if (SandboxError.isInstance(error)) {
    const reason = firstLine(error.message);
    switch (error.code) {
      case "UNKNOWN_PROVIDER": {
        const registered = (error.details.registered as string[] | undefined)?.join(", ") ?? "local-docker, modal";
        const chosen = typeof error.details.provider === "string" ? `"${error.details.provider}"` : "the chosen provider";
        return `${PROVIDER_VARIABLE}=${chosen} is not a provider this demo knows: set it to one of ${registered} (or unset it for local-docker).`;
      }
      case "PROVIDER_UNAVAILABLE":
        if (provider === "modal") {
          return emulatorUrl
            ? `The Modal emulator at MODAL_SERVER_URL=${emulatorUrl} does not answer: start it with "pnpm --filter @sandbox/demo emulator" and export the variables it prints, or unset MODAL_SERVER_URL to use real Modal.`
            : "Modal could not be reached: check your network connection, or run offline against the emulator by setting MODAL_SERVER_URL (see apps/demo/README.md).";
        }
        return "No Docker engine answers: start one with `bash scripts/start-docker-engine.sh` (or point DOCKER_HOST at a running engine) and run the demo again.";
      case "AUTHENTICATION_FAILED":
        return emulatorUrl
          ? `The Modal emulator at ${emulatorUrl} rejected the token: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET to the values the emulator printed.`
          : "Modal credentials are missing or were rejected: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET to a token from https://modal.com/settings/tokens (or use SANDBOX_PROVIDER=local-docker).";
      case "SANDBOX_CREATION_FAILED":
        // Adapters flag a missing image in details; other creation failures
        // (duplicate names, disk full) mention the image too and must not match.
        if (error.details?.reason === "image-unavailable") {
          const image = context.imageName ? `"${context.imageName}"` : "The sandbox image";
          return (
            `The image ${image} is not available and could not be pulled: build the offline one with ` +
            "`bash scripts/build-offline-images.sh --only python` " +
            `(the demo then uses ${OFFLINE_PYTHON_IMAGE}), or set ${IMAGE_VARIABLE} to an image the engine has.`
          );
        }
        return `The ${provider ?? "provider"} sandbox could not be created (${reason}): fix the cause above and run the demo again.`;
      case "RESOURCE_LIMIT_EXCEEDED":
        return `The ${provider ?? "provider"} refused the sandbox for lack of resources (${reason}): free some capacity or lower the limits, then try again.`;
      default:
        return `The sandbox failed with ${error.code} (${reason}); set DEMO_DEBUG=1 to see the full error.`;
    }
  }
  if (isModuleNotFound(error, "@sandbox/modal")) {
    return "The Modal adapter is not built: run `pnpm turbo run build --filter @sandbox/demo...` (bash scripts/demo.sh does it) and try again.";
  }
  if (chain.some(isAnthropicAuthFailure)) {
    return "Anthropic rejected ANTHROPIC_API_KEY: set a valid key, or unset it (or set DEMO_MODEL=scripted) to run with the offline scripted model.";
  }
  if (chain.some(isModelConnectionFailure)) {
    return "The Anthropic API could not be reached: check your network, or unset ANTHROPIC_API_KEY (or set DEMO_MODEL=scripted) to run offline with the scripted model.";
  }
  const message = SandboxError.isInstance(error) ? `[${error.provider}] ${error.message}` : error instanceof Error ? error.message : String(error);
  return `The demo failed: ${firstLine(message)} (set DEMO_DEBUG=1 to see the full error).`;
}
