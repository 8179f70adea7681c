/** `ObjectCreationType` values the SDK sends (`*GetOrCreate` requests). */
export const ObjectCreationType = { unspecified: 0, createIfMissing: 1, ephemeral: 5 } as const;

/** `NetworkAccess.NetworkAccessType` values. */
export const NetworkAccessType = { open: 1, blocked: 2, allowlist: 3 } as const;

/** `FileDescriptor` values of log requests: which entrypoint stream to read. */
export const FileDescriptor = { stdout: 1, stderr: 2 } as const;

/** True when a `*GetOrCreate` request asks for the object to be made when missing (named or ephemeral). */
export function createsWhenMissing(objectCreationType: number | undefined): boolean {
  return objectCreationType === ObjectCreationType.createIfMissing || objectCreationType === ObjectCreationType.ephemeral;
}
