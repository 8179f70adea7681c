import { runConformanceSuite } from "@sandbox/core/conformance";
import { dockerEngineAvailable } from "@sandbox/test-support";
import { LocalDockerSandbox } from "../src/index.js";
import { localDockerConformanceTarget, localDockerSuiteSetup } from "./support/conformance-target.js";

// The whole core suite against a real Docker engine. Under CI a missing
// engine fails here instead of skipping.
await dockerEngineAvailable();

runConformanceSuite(localDockerConformanceTarget("local-docker", localDockerSuiteSetup("conformance"), (options) => LocalDockerSandbox.create(options)));
