import { ModalClient } from "modal";

/** One recorded control-plane call of the stub. */
export interface StubCall {
  method: string;
  request: Record<string, any>;
}

export type StubHandlers = Record<string, (request: Record<string, any>) => unknown>;

/** A V1-shaped sandbox id: "sb-" and 22 base62 characters. */
export const V1_SANDBOX_ID = "sb-AAAAAAAAAAAAAAAAAAAAAA";
export const V2_SANDBOX_ID = "sb-v2-stub";

/** Answers for the calls `ModalSandbox.create` makes, up to the sandbox id. */
export const DEFAULT_HANDLERS: StubHandlers = {
  appGetOrCreate: () => ({ appId: "ap-stub" }),
  environmentGetOrCreate: () => ({ metadata: { settings: { imageBuilderVersion: "2025.06" } } }),
  imageGetOrCreate: () => ({ imageId: "im-stub", result: { status: 1 } }),
  volumeGetOrCreate: (request) => ({ volumeId: `vo-${request.deploymentName}` }),
  secretGetOrCreate: (request) => ({ secretId: `st-${request.deploymentName}` }),
  sandboxCreateV2: () => ({ sandboxId: V2_SANDBOX_ID, taskId: "ta-stub", tunnels: [] }),
  sandboxCreate: () => ({ sandboxId: V1_SANDBOX_ID }),
  sandboxGetTaskId: () => ({ taskId: "ta-stub" }),
  sandboxTerminate: () => ({}),
  sandboxTerminateV2: () => ({}),
  sandboxWait: () => ({}),
  sandboxWaitV2: () => ({}),
};

/**
 * A real `ModalClient` whose control plane is an in-memory stub (the SDK's own
 * `cpClient` parameter): the SDK builds the real request messages, the stub
 * records them. For unit tests of option and error mapping only; conformance
 * and integration tests use the emulator.
 */
export function stubModalClient(overrides: StubHandlers = {}): { client: ModalClient; calls: StubCall[] } {
  const calls: StubCall[] = [];
  const handlers: StubHandlers = { ...DEFAULT_HANDLERS, ...overrides };
  const cpClient = new Proxy(
    {},
    {
      get(_target, method: string | symbol) {
        if (typeof method !== "string" || method === "then") return undefined;
        return async (request: Record<string, any>) => {
          calls.push({ method, request });
          const handler = handlers[method];
          if (!handler) throw new Error(`stub control plane: unexpected call ${method}`);
          return handler(request);
        };
      },
    },
  );
  const client = new ModalClient({ tokenId: "ak-stub-id", tokenSecret: "as-stub-secret", cpClient: cpClient as never });
  return { client, calls };
}

/** A nice-grpc `ClientError` look-alike (recognised by shape). */
export function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`/modal.client.ModalClient/Stub ${details}`), { name: "ClientError", code, details, path: "/modal.client.ModalClient/Stub" });
}
