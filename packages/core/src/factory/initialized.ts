/**
 * Initializes a new handle and resolves it: the body of an adapter's static
 * `create(options)` (`return initialized(new MySandbox(options))`). Rejects
 * with whatever `initialize()` rejects with.
 */
export async function initialized<S extends { initialize(): Promise<void> }>(sandbox: S): Promise<S> {
  await sandbox.initialize();
  return sandbox;
}
