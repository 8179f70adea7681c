import { ServerError, Status } from "nice-grpc";

/**
 * Why the emulator refuses each sandbox call it does not serve. Each answer
 * is UNIMPLEMENTED with `modal-emulator does not implement <Method>: <why>`,
 * so a test or user sees which call and why, never a silent success.
 */
export const REFUSALS = {
  sidecars: "sidecar containers are not built yet (they would be further containers joined to the sandbox's network namespace)",
} as const;

/** Throws the refusal of `method` with its reason. */
export function refuse(method: string, why: string): never {
  throw new ServerError(Status.UNIMPLEMENTED, `modal-emulator does not implement ${method}: ${why}`);
}
