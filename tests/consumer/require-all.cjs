// Consumer run (CommonJS): require() every published package and check its
// main exports are there.
const assert = require("node:assert/strict");

const expected = {
  "@sandbox/core": [
    "SandboxError",
    "SandboxAdapter",
    "createSandboxRegistry",
    "SANDBOX_ERROR_CODES",
    "validateSandboxOptions",
    "EXEC_MARKER_VARIABLE",
    "currentOwner",
  ],
  "@sandbox/core/host-tools": ["EXEC_MARKER_VARIABLE", "KILL_BY_MARKER_SCRIPT", "currentOwner", "ownerIsGone", "processStart", "parseSecretStore"],
  "@sandbox/docker-engine": ["DockerEngine", "EngineError", "LABELS", "EXEC_MARKER_VARIABLE", "currentOwnerLabels"],
  "@sandbox/local-docker": ["LocalDockerSandbox", "LocalDockerSandboxError", "localDockerProvider", "createLocalDockerSandboxFactory", "reap"],
  "@sandbox/local-docker/engine": ["DockerEngine", "EngineError", "LABELS"],
  "@sandbox/modal": ["ModalSandbox", "ModalSandboxError", "createModalSandboxFactory", "createModalSandboxFactoryFromSandbox", "modalProvider"],
  "@sandbox/modal-emulator": ["startModalEmulator", "PINNED_MODAL_SDK_VERSION"],
};

let failed = 0;
for (const [specifier, names] of Object.entries(expected)) {
  try {
    const loaded = require(specifier);
    const missing = names.filter((name) => loaded[name] === undefined);
    assert.deepEqual(missing, [], `${specifier} lacks ${missing.join(", ")}`);
    console.log(`require("${specifier}"): ${names.length} exports present`);
  } catch (error) {
    failed++;
    console.error(`require("${specifier}") FAILED: ${error.message}`);
  }
}
// One class across entries: the CommonJS core and the adapter's core are one copy.
const { SandboxError } = require("@sandbox/core");
const { LocalDockerSandboxError } = require("@sandbox/local-docker");
if (!(new LocalDockerSandboxError("COMMAND_FAILED") instanceof SandboxError)) {
  failed++;
  console.error("LocalDockerSandboxError is not a SandboxError under require()");
}
process.exit(failed === 0 ? 0 : 1);
