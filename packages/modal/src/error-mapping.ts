import { Status as GrpcStatus } from "nice-grpc";
import type { ModalSandboxErrorCode as SandboxErrorCode } from "./modal-sandbox-error.js";

/** Which adapter step failed; decides the code of failures that are not self-explanatory. */
export type ModalOperation = "create" | "connect" | "exec" | "files" | "lifecycle" | "reap";

/** The contract code, message and retryability an SDK failure maps to. */
export interface MappedModalError {
  code: SandboxErrorCode;
  message: string;
  /** Set only where it differs from the code's default. */
  retryable?: boolean;
}

/** gRPC status codes: nice-grpc's own enum, the one the SDK's `ClientError.code` carries. */
export { GrpcStatus };

/** Where credentials come from, quoted in every `AUTHENTICATION_FAILED` message. */
export const CREDENTIALS_HINT =
  "credentials are read from the auth option ({ tokenId, tokenSecret }), else from the MODAL_TOKEN_ID and MODAL_TOKEN_SECRET environment variables, else from the active profile of ~/.modal.toml (MODAL_CONFIG_PATH); create tokens at https://modal.com/settings/tokens";

const FALLBACK: Record<ModalOperation, SandboxErrorCode> = {
  create: "SANDBOX_CREATION_FAILED",
  connect: "PROVIDER_UNAVAILABLE",
  exec: "COMMAND_FAILED",
  files: "FILE_OPERATION_FAILED",
  lifecycle: "PROVIDER_UNAVAILABLE",
  reap: "PROVIDER_UNAVAILABLE",
};

/**
 * The gRPC status of a nice-grpc `ClientError`, recognised by shape (not by
 * class, so a second copy of nice-grpc in node_modules does not defeat it).
 */
export function grpcStatusOf(error: unknown): { code: number; details: string } | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const candidate = error as { name?: unknown; code?: unknown; details?: unknown; path?: unknown };
  if (typeof candidate.code !== "number" || typeof candidate.details !== "string") return undefined;
  if (candidate.name !== "ClientError" && typeof candidate.path !== "string") return undefined;
  return { code: candidate.code, details: candidate.details };
}

/**
 * Whether `error` is the SDK error class `name` (`NotFoundError`,
 * `SandboxFilesystemNotFoundError`, ...). Matched by name so errors from a
 * user-supplied client built with another copy of `modal` map the same way.
 */
export function isModalErrorNamed(error: unknown, ...names: string[]): boolean {
  return error instanceof Error && names.includes(error.name);
}

/** The SDK's or server's own words, without the `/modal.client.ModalClient/...` noise. */
export function detailOf(error: unknown): string {
  const status = grpcStatusOf(error);
  if (status?.details) return status.details;
  if (error instanceof Error) return error.message;
  return String(error);
}

function isNotFound(error: unknown, status: { code: number } | undefined): boolean {
  return isModalErrorNamed(error, "NotFoundError") || status?.code === GrpcStatus.NOT_FOUND;
}

/** The SDK's `NotFoundError`, or a raw gRPC NOT_FOUND it did not translate. */
export function isNotFoundFailure(error: unknown): boolean {
  return isNotFound(error, grpcStatusOf(error));
}

/** The SDK's `AlreadyExistsError`, or a raw gRPC ALREADY_EXISTS. */
export function isAlreadyExistsFailure(error: unknown): boolean {
  return isModalErrorNamed(error, "AlreadyExistsError") || grpcStatusOf(error)?.code === GrpcStatus.ALREADY_EXISTS;
}

function isConnectionFailure(error: unknown, status: { code: number } | undefined): boolean {
  if (status && (status.code === GrpcStatus.UNAVAILABLE || status.code === GrpcStatus.DEADLINE_EXCEEDED)) return true;
  const text = error instanceof Error ? `${error.message} ${(error as { code?: unknown }).code ?? ""}` : String(error);
  return /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|No connection established|getaddrinfo/i.test(text);
}

/**
 * Maps a failure of the `modal` SDK (its typed errors, nice-grpc
 * `ClientError`s by status code, plain errors it throws) to a contract code.
 * Pure: the adapter wraps the result in a `ModalSandboxError` with the
 * original as `cause`.
 *
 * @param context - what was being done, e.g. `could not create sandbox`; prefixed to the message.
 */
export function mapModalError(error: unknown, operation: ModalOperation, context: string): MappedModalError {
  const status = grpcStatusOf(error);
  const detail = detailOf(error);
  const message = `${context}: ${detail}`;

  if (/missing credentials/i.test(detail)) {
    return { code: "AUTHENTICATION_FAILED", message: `${context}: no Modal credentials found; ${CREDENTIALS_HINT}` };
  }
  if (status && (status.code === GrpcStatus.UNAUTHENTICATED || status.code === GrpcStatus.PERMISSION_DENIED)) {
    return { code: "AUTHENTICATION_FAILED", message: `${context}: Modal refused the credentials (${detail}); ${CREDENTIALS_HINT}` };
  }
  if (isModalErrorNamed(error, "ResourceExhaustedError") || status?.code === GrpcStatus.RESOURCE_EXHAUSTED) {
    return { code: "RESOURCE_LIMIT_EXCEEDED", message };
  }

  switch (operation) {
    case "create":
      if (isModalErrorNamed(error, "AlreadyExistsError") || status?.code === GrpcStatus.ALREADY_EXISTS) {
        return { code: "SANDBOX_CREATION_FAILED", message, retryable: false };
      }
      if (isModalErrorNamed(error, "InvalidError") || status?.code === GrpcStatus.INVALID_ARGUMENT) {
        return { code: "SANDBOX_CREATION_FAILED", message, retryable: false };
      }
      if (isNotFound(error, status)) return { code: "SANDBOX_CREATION_FAILED", message, retryable: false };
      break;
    case "connect":
    case "exec":
    case "files":
    case "lifecycle":
      if (isNotFound(error, status) || isModalErrorNamed(error, "ConflictError", "ClientClosedError")) {
        return { code: "SANDBOX_NOT_FOUND", message: `${context}: the sandbox is not running (expired, terminated or unknown): ${detail}` };
      }
      if (operation === "connect" && (isModalErrorNamed(error, "InvalidError") || status?.code === GrpcStatus.INVALID_ARGUMENT)) {
        return { code: "SANDBOX_NOT_FOUND", message: `${context}: ${detail}` };
      }
      if (isModalErrorNamed(error, "InvalidError") || status?.code === GrpcStatus.INVALID_ARGUMENT) {
        return { code: FALLBACK[operation], message, retryable: false };
      }
      break;
    case "reap":
      break;
  }
  if (isConnectionFailure(error, status)) {
    return { code: "PROVIDER_UNAVAILABLE", message: `${context}: Modal could not be reached (${detail})` };
  }
  return { code: FALLBACK[operation], message };
}
