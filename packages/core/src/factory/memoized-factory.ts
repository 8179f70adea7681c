/**
 * Turns `create` into a factory that creates one sandbox on its first call and
 * returns that same sandbox on every later call; a failed creation is retried
 * on the next call, and a sandbox that was closed (`isInitialized` false once
 * created) is replaced by a new one rather than handed out dead.
 *
 * Why: deepagents resolves a backend factory on every tool call, model call
 * and middleware hook, and shares it with subagents, so a factory that
 * created a sandbox per call would start dozens for one agent run. Adapters
 * build their `create...SandboxFactory(options)` helpers on this.
 */
export function memoizedSandboxFactory<Sandbox extends { readonly isInitialized: boolean }>(create: () => Promise<Sandbox>): () => Promise<Sandbox> {
  let sandbox: Promise<Sandbox> | undefined;
  let current: Sandbox | undefined;
  return () => {
    if (current && !current.isInitialized) {
      sandbox = undefined;
      current = undefined;
    }
    sandbox ??= create().then(
      (created) => (current = created),
      (error: unknown) => {
        sandbox = undefined;
        throw error;
      },
    );
    return sandbox;
  };
}
