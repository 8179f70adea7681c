import { createSandboxPool, type SandboxPool, type SandboxPoolSettings } from "@sandbox/core";
import { LocalDockerSandbox, type LocalDockerSandboxOptions } from "./local-docker-sandbox.js";

/** Settings of {@link createLocalDockerSandboxPool}: core's pool settings without `create`. */
export type LocalDockerSandboxPoolSettings = Omit<SandboxPoolSettings<LocalDockerSandboxOptions, LocalDockerSandbox>, "create">;

/**
 * A warm pool of local-docker sandboxes of one option set: `claim()` hands
 * out a started container with the caller's env, secrets, workdir, initial
 * files and lifetime applied (no container is created at claim time), or
 * creates cold when the request needs another image, resources, volumes,
 * network or a name. Close the pool to remove its idle containers.
 *
 * @example
 * ```ts
 * const pool = createLocalDockerSandboxPool({ options: { imageName: "python:3.12-slim" }, size: 4 });
 * const sandbox = await pool.claim({ env: { TASK: "42" }, workdir: "/work" });
 * try {
 *   await sandbox.execute("python --version");
 * } finally {
 *   await sandbox.close();
 * }
 * await pool.close();
 * ```
 */
export function createLocalDockerSandboxPool(settings: LocalDockerSandboxPoolSettings): SandboxPool<LocalDockerSandboxOptions, LocalDockerSandbox> {
  // Bad pool options fail here, not in the background.
  new LocalDockerSandbox(settings?.options ?? {});
  return createSandboxPool({
    ...settings,
    create: async (options) => {
      const sandbox = await LocalDockerSandbox.create(options);
      // A pooled sandbox is handed out with its command agent already up.
      await sandbox.commandChannelReady();
      return sandbox;
    },
  });
}
