import {
  abuseConformance,
  errorsConformance,
  executeConformance,
  fileOperationsConformance,
  optionsConformance,
  runConformanceSuite,
} from "@sandbox/core/conformance";
import { dockerEngineAvailable } from "@sandbox/test-support";
import { LocalDockerSandbox } from "../src/index.js";
import { localDockerConformanceTarget, localDockerSuiteSetup } from "./support/conformance-target.js";

// The core suite again with commandChannel: "exec" (one docker exec per
// command, the fallback of the command agent). By default only the groups
// whose calls go through the command channel run here: execute, the deepagents
// file tools, options (env, workdir, secrets, OOM), errors and abuse. File
// transfers (the archive API) and spawned processes (their own execs) take the
// same path in both modes and run in local-docker.conformance.test.ts; set
// SANDBOX_CONFORMANCE_FULL=1 to run every group here too. Under CI a missing
// engine fails here instead of skipping.
await dockerEngineAvailable();

const target = localDockerConformanceTarget(
  "local-docker (commandChannel exec)",
  localDockerSuiteSetup("conformance-exec"),
  (options) => LocalDockerSandbox.create(options),
  { commandChannel: "exec" },
);

if (process.env.SANDBOX_CONFORMANCE_FULL === "1") runConformanceSuite(target);
else for (const group of [executeConformance, fileOperationsConformance, optionsConformance, errorsConformance, abuseConformance]) group(target);
