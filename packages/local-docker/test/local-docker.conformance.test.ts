import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceSuite } from "@sandbox/core/conformance";
import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import { afterAll } from "vitest";
import { LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";

// The whole core suite against a real Docker engine. Under CI a missing
// engine fails here instead of skipping.
await dockerEngineAvailable();

const appName = `conformance-${process.pid}`;
const secretsDirectory = mkdtempSync(join(tmpdir(), "sandbox-conformance-secrets-"));
const secretsFile = join(secretsDirectory, "secrets.json");
writeFileSync(secretsFile, "{}");
afterAll(() => rmSync(secretsDirectory, { recursive: true, force: true }));
const engine = new DockerEngine();
const volumeErrorProbe = `conformance-volume-error-${process.pid}`;

runConformanceSuite({
  name: "local-docker",
  create: (options) => LocalDockerSandbox.create({ appName, secretsFile, ...options }),
  construct: (options) => new LocalDockerSandbox({ appName, secretsFile, ...options }),
  fromId: (id) => LocalDockerSandbox.fromId(id),
  fromName: (app, name) => LocalDockerSandbox.fromName(app, name),
  appName,
  baseOptions: { imageName: BUSYBOX_IMAGE },
  exists: (id) => localDockerSandboxExists(id),
  killFromOutside: (id) => engine.container(id).stop(),
  fixtures: {
    deleteVolume: (name) => engine.removeVolume(name),
    // Volumes are created on demand here, so the VOLUME_ERROR case mounts one
    // where no volume can go: over a regular file of the image.
    async createWithMissingVolume() {
      try {
        return await LocalDockerSandbox.create({ appName, imageName: BUSYBOX_IMAGE, volumes: { "/etc/passwd": volumeErrorProbe } });
      } finally {
        await engine.removeVolume(volumeErrorProbe);
      }
    },
    async createSecret(name, values) {
      const store = JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, unknown>;
      writeFileSync(secretsFile, JSON.stringify({ ...store, [name]: values }));
    },
    async deleteSecret(name) {
      const store = JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, unknown>;
      delete store[name];
      writeFileSync(secretsFile, JSON.stringify(store));
    },
  },
  unavailable: { gpu: "this Docker engine has no GPU runtime" },
  // The engine selects GPUs by count only; a model name is refused.
  gpuType: "any",
});
