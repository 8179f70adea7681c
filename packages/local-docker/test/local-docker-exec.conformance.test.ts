import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  abuseConformance,
  errorsConformance,
  executeConformance,
  fileOperationsConformance,
  optionsConformance,
  runConformanceSuite,
} from "@sandbox/core/conformance";
import { DockerEngine } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import { afterAll } from "vitest";
import { LocalDockerSandbox, localDockerSandboxExists } from "../src/index.js";

// The core suite again with commandChannel: "exec" (one docker exec per
// command, the fallback of the command agent). By default only the groups
// whose calls go through the command channel run here: execute, the deepagents
// file tools, options (env, workdir, secrets, OOM), errors and abuse. File
// transfers (the archive API) and spawned processes (their own execs) take the
// same path in both modes and run in local-docker.conformance.test.ts; set
// SANDBOX_CONFORMANCE_FULL=1 to run every group here too. Under CI a missing
// engine fails here instead of skipping.
await dockerEngineAvailable();

const appName = `conformance-exec-${process.pid}`;
const secretsDirectory = mkdtempSync(join(tmpdir(), "sandbox-conformance-exec-secrets-"));
const secretsFile = join(secretsDirectory, "secrets.json");
writeFileSync(secretsFile, "{}");
afterAll(() => rmSync(secretsDirectory, { recursive: true, force: true }));
const engine = new DockerEngine();
const volumeErrorProbe = `conformance-exec-volume-error-${process.pid}`;

const target: Parameters<typeof runConformanceSuite>[0] = {
  name: "local-docker (commandChannel exec)",
  create: (options) => LocalDockerSandbox.create({ appName, secretsFile, commandChannel: "exec", ...options }),
  construct: (options) => new LocalDockerSandbox({ appName, secretsFile, commandChannel: "exec", ...options }),
  fromId: (id) => LocalDockerSandbox.fromId(id, { commandChannel: "exec" }),
  fromName: (app, name) => LocalDockerSandbox.fromName(app, name, { commandChannel: "exec" }),
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
        return await LocalDockerSandbox.create({ appName, commandChannel: "exec", imageName: BUSYBOX_IMAGE, volumes: { "/etc/passwd": volumeErrorProbe } });
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
};

if (process.env.SANDBOX_CONFORMANCE_FULL === "1") runConformanceSuite(target);
else for (const group of [executeConformance, fileOperationsConformance, optionsConformance, errorsConformance, abuseConformance]) group(target);
