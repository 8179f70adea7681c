import {
  AlreadyExistsError,
  ClientClosedError,
  ConflictError,
  InvalidError,
  NotFoundError,
  ResourceExhaustedError,
  SandboxFilesystemError,
  SandboxFilesystemFileTooLargeError,
  SandboxFilesystemIsADirectoryError,
  SandboxFilesystemNotADirectoryError,
  SandboxFilesystemNotFoundError,
  SandboxFilesystemPermissionError,
} from "modal";
import { describe, expect, it } from "vitest";
import { grpcError } from "../test/support/stub-control-plane.js";
import { CREDENTIALS_HINT, GrpcStatus, grpcStatusOf, type ModalOperation, mapModalError } from "./error-mapping.js";
import { fileErrorOf } from "./sandbox-files.js";

describe("mapModalError: SDK and gRPC failures -> contract codes", () => {
  it.each<[string, unknown, ModalOperation, string]>([
    ["missing credentials", new Error("Profile is missing credentials. Please set them in .modal.toml, ..."), "create", "AUTHENTICATION_FAILED"],
    ["UNAUTHENTICATED", grpcError(GrpcStatus.UNAUTHENTICATED, "Token missing or invalid"), "create", "AUTHENTICATION_FAILED"],
    ["PERMISSION_DENIED", grpcError(GrpcStatus.PERMISSION_DENIED, "no access"), "connect", "AUTHENTICATION_FAILED"],
    ["ResourceExhaustedError", new ResourceExhaustedError("Insufficient capacity to create sandbox."), "create", "RESOURCE_LIMIT_EXCEEDED"],
    ["RESOURCE_EXHAUSTED", grpcError(GrpcStatus.RESOURCE_EXHAUSTED, "GPU A100:2 requested, but no GPU"), "create", "RESOURCE_LIMIT_EXCEEDED"],
    ["RESOURCE_EXHAUSTED on exec", grpcError(GrpcStatus.RESOURCE_EXHAUSTED, "too many execs"), "exec", "RESOURCE_LIMIT_EXCEEDED"],
    ["AlreadyExistsError", new AlreadyExistsError("Sandbox with name 'x' already exists"), "create", "SANDBOX_CREATION_FAILED"],
    ["InvalidError on create", new InvalidError("Invalid Sandbox name"), "create", "SANDBOX_CREATION_FAILED"],
    ["image build failure", new Error("Image build for im-1 failed with the exception:\npull access denied"), "create", "SANDBOX_CREATION_FAILED"],
    ["NotFoundError on connect", new NotFoundError("Sandbox with name 'x' not found in App 'y'"), "connect", "SANDBOX_NOT_FOUND"],
    ["NOT_FOUND on connect", grpcError(GrpcStatus.NOT_FOUND, "Sandbox sb-1 not found"), "connect", "SANDBOX_NOT_FOUND"],
    ["INVALID_ARGUMENT on connect", grpcError(GrpcStatus.INVALID_ARGUMENT, "malformed id"), "connect", "SANDBOX_NOT_FOUND"],
    ["NOT_FOUND on exec", grpcError(GrpcStatus.NOT_FOUND, "Sandbox has already finished; its task accepts no more execs"), "exec", "SANDBOX_NOT_FOUND"],
    ["ConflictError on exec", new ConflictError("Sandbox sb-1 has already finished"), "exec", "SANDBOX_NOT_FOUND"],
    ["ClientClosedError on exec", new ClientClosedError(), "exec", "SANDBOX_NOT_FOUND"],
    ["NotFoundError on files (sandbox unavailable)", new NotFoundError("The Sandbox is unavailable."), "files", "SANDBOX_NOT_FOUND"],
    ["generic exec failure", new Error("Command router access is not available for this sandbox"), "exec", "COMMAND_FAILED"],
    ["INTERNAL on exec", grpcError(GrpcStatus.INTERNAL, "boom"), "exec", "COMMAND_FAILED"],
    ["generic file failure", new SandboxFilesystemError("An unexpected error occurred"), "files", "FILE_OPERATION_FAILED"],
    ["UNAVAILABLE", grpcError(GrpcStatus.UNAVAILABLE, "No connection established"), "create", "PROVIDER_UNAVAILABLE"],
    ["DEADLINE_EXCEEDED", grpcError(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded"), "lifecycle", "PROVIDER_UNAVAILABLE"],
    ["ECONNREFUSED", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), "connect", "PROVIDER_UNAVAILABLE"],
    ["unknown create failure", new Error("something odd"), "create", "SANDBOX_CREATION_FAILED"],
  ])("%s -> %s (%s)", (_label, error, operation, code) => {
    expect(mapModalError(error, operation, "context").code).toBe(code);
  });

  it("says where credentials are read from", () => {
    const mapped = mapModalError(grpcError(GrpcStatus.UNAUTHENTICATED, "Token missing or invalid"), "create", "could not create sandbox");
    expect(mapped.message).toContain(CREDENTIALS_HINT);
    expect(mapped.message).toContain("MODAL_TOKEN_ID");
    expect(mapped.message).toMatch(/^could not create sandbox: /);
  });

  it("marks a taken name and a refused definition as not retryable", () => {
    expect(mapModalError(new AlreadyExistsError("taken"), "create", "c").retryable).toBe(false);
    expect(mapModalError(new InvalidError("bad"), "create", "c").retryable).toBe(false);
  });

  it("quotes the server's details, not the gRPC path", () => {
    expect(mapModalError(grpcError(GrpcStatus.INTERNAL, "disk full"), "exec", "could not run command").message).toBe("could not run command: disk full");
  });

  it("recognises a ClientError by shape only", () => {
    expect(grpcStatusOf(grpcError(5, "x"))).toEqual({ code: 5, details: "x" });
    expect(grpcStatusOf(new Error("x"))).toBeUndefined();
    expect(grpcStatusOf({ code: 5, details: "x" })).toBeUndefined();
    expect(grpcStatusOf(Object.assign(new Error("x"), { code: "ENOENT" }))).toBeUndefined();
  });
});

describe("fileErrorOf: the SDK's typed filesystem errors -> deepagents' per-file codes", () => {
  it.each<[Error, "read" | "write", string | undefined]>([
    [new SandboxFilesystemNotFoundError("No such file: /a"), "read", "file_not_found"],
    [new SandboxFilesystemNotADirectoryError("Not a directory: /f/a"), "read", "file_not_found"],
    [new SandboxFilesystemIsADirectoryError("Is a directory: /tmp"), "read", "is_directory"],
    [new SandboxFilesystemPermissionError("Permission denied: /root/x"), "read", "permission_denied"],
    [new SandboxFilesystemIsADirectoryError("Is a directory: /tmp"), "write", "is_directory"],
    [new SandboxFilesystemPermissionError("Read-only file system: /sys/x"), "write", "permission_denied"],
    [new SandboxFilesystemNotADirectoryError("Not a directory: /file/child"), "write", "invalid_path"],
    [new SandboxFilesystemFileTooLargeError("File is larger than 67108864 bytes: /dev/zero"), "read", "invalid_path"],
    [new SandboxFilesystemError("Not a regular file"), "read", "invalid_path"],
    [new SandboxFilesystemError("Too many levels of symbolic links"), "read", "invalid_path"],
    [new SandboxFilesystemError("An unexpected error occurred"), "read", undefined],
    [new NotFoundError("The Sandbox is unavailable."), "read", undefined],
    [new Error("network"), "write", undefined],
  ])("%s on %s -> %s", (error, direction, expected) => {
    expect(fileErrorOf(error, direction)).toBe(expected);
  });
});
