import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { afterAll, beforeAll, expect } from "vitest";
import { LocalDockerSandbox } from "../../src/index.js";

/**
 * The commands `action` runs through `sandbox.execute`: none when the
 * command agent answers a file tool itself.
 */
export async function commandsOf(sandbox: LocalDockerSandbox, action: () => Promise<unknown>): Promise<string[]> {
  const commands: string[] = [];
  const execute = sandbox.execute.bind(sandbox);
  sandbox.execute = (command, options) => {
    commands.push(command);
    return execute(command, options);
  };
  try {
    await action();
  } finally {
    delete (sandbox as { execute?: unknown }).execute;
  }
  return commands;
}

/**
 * For a parity file (a file tool answered by the agent against the same
 * tool's command): one sandbox per image, on the command agent, with `tree`
 * made and `warmUp` run (it asks once which tools the image has), shared by
 * the file's tests; every container labelled `appName` (the file's other
 * sandboxes too) removed after them. Returns the sandbox of an image.
 */
export function useParitySandboxes(
  appName: string,
  images: readonly string[],
  tree: string,
  warmUp: (sandbox: LocalDockerSandbox) => Promise<unknown>,
): (image: string) => LocalDockerSandbox {
  const engine = new DockerEngine();
  const sandboxes = new Map<string, LocalDockerSandbox>();

  beforeAll(async () => {
    for (const image of images) {
      const sandbox = await LocalDockerSandbox.create({ imageName: image, appName });
      sandboxes.set(image, sandbox);
      expect(await sandbox.commandChannelReady()).toBe("agent");
      const made = await sandbox.execute(tree);
      expect(made.exitCode, made.output).toBe(0);
      await warmUp(sandbox);
    }
  }, 120_000);

  afterAll(async () => {
    for (const sandbox of sandboxes.values()) await sandbox.close().catch(() => undefined);
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
  });

  return (image) => {
    const sandbox = sandboxes.get(image);
    if (sandbox === undefined) throw new Error(`no parity sandbox for ${image} (did beforeAll fail?)`);
    return sandbox;
  };
}
