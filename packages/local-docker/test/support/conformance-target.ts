import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SandboxOptions } from "@sandbox/core";
import type { ConformanceTarget } from "@sandbox/core/conformance";
import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE } from "@sandbox/test-support";
import { afterAll } from "vitest";
import { LocalDockerSandbox, type LocalDockerSandboxOptions, localDockerSandboxExists } from "../../src/index.js";

/** What a local-docker conformance file shares with its target: the app name and the secrets file the fixtures write. */
export interface LocalDockerSuiteSetup {
  appName: string;
  secretsFile: string;
}

/**
 * An app name of this process and an empty secrets file in a temporary
 * directory, removed after the file's tests (register hooks that still need
 * the file after calling this: they then run first).
 */
export function localDockerSuiteSetup(label: string): LocalDockerSuiteSetup {
  const secretsDirectory = mkdtempSync(join(tmpdir(), `sandbox-${label}-secrets-`));
  const secretsFile = join(secretsDirectory, "secrets.json");
  writeFileSync(secretsFile, "{}");
  afterAll(() => rmSync(secretsDirectory, { recursive: true, force: true }));
  return { appName: `${label}-${process.pid}`, secretsFile };
}

/** How a conformance file varies the target: the command channel, and a check on every sandbox it gets. */
export interface LocalDockerTargetVariant {
  commandChannel?: LocalDockerSandboxOptions["commandChannel"];
  /** Runs on every sandbox created or reconnected (e.g. to record its command channel). */
  inspect?: (sandbox: LocalDockerSandbox) => Promise<void>;
}

/**
 * The core suite's target for local-docker, with `create` as the file makes
 * sandboxes (cold, or claimed from a warm pool; it gets the app name and
 * secrets file already merged in) and every fixture.
 */
export function localDockerConformanceTarget(
  name: string,
  setup: LocalDockerSuiteSetup,
  create: (options: LocalDockerSandboxOptions) => Promise<LocalDockerSandbox>,
  variant: LocalDockerTargetVariant = {},
): ConformanceTarget<LocalDockerSandbox> {
  const { appName, secretsFile } = setup;
  const channel = variant.commandChannel ? { commandChannel: variant.commandChannel } : {};
  const inspected = async (sandbox: LocalDockerSandbox) => {
    await variant.inspect?.(sandbox);
    return sandbox;
  };
  const engine = new DockerEngine();
  const volumeErrorProbe = `${appName}-volume-error`;
  const readStore = () => JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, unknown>;
  const withSetup = (options: SandboxOptions = {}) => ({ appName, secretsFile, ...channel, ...options });
  return {
    name,
    create: async (options) => inspected(await create(withSetup(options))),
    construct: (options) => new LocalDockerSandbox(withSetup(options)),
    fromId: async (id) => inspected(await LocalDockerSandbox.fromId(id, channel)),
    fromName: async (app, sandboxName) => inspected(await LocalDockerSandbox.fromName(app, sandboxName, channel)),
    appName,
    baseOptions: { imageName: OFFLINE_BUSYBOX_IMAGE },
    exists: (id) => localDockerSandboxExists(id),
    killFromOutside: (id) => engine.container(id).stop(),
    fixtures: {
      deleteVolume: (volume) => engine.removeVolume(volume),
      // Volumes are created on demand here, so the VOLUME_ERROR case mounts one
      // where no volume can go: over a regular file of the image.
      async createWithMissingVolume() {
        try {
          return await create(withSetup({ imageName: OFFLINE_BUSYBOX_IMAGE, volumes: { "/etc/passwd": volumeErrorProbe } }));
        } finally {
          await engine.removeVolume(volumeErrorProbe);
        }
      },
      async createSecret(secret, values) {
        writeFileSync(secretsFile, JSON.stringify({ ...readStore(), [secret]: values }));
      },
      async deleteSecret(secret) {
        const store = readStore();
        delete store[secret];
        writeFileSync(secretsFile, JSON.stringify(store));
      },
    },
    unavailable: { gpu: "this Docker engine has no GPU runtime" },
    // The lifetime cases' sandboxes must still be running for their first command: on a loaded engine
    // (CI runs three variants of the suite at once) a create took 5.7 s, the whole default lifetime of 5 s.
    timeouts: { lifetimeMs: 10_000 },
    // The engine selects GPUs by count only; a model name is refused.
    gpuType: "any",
  };
}
