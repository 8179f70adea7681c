import { defineConfig } from "tsup";
import { packageBuild } from "../../tsup.shared.js";

export default defineConfig(packageBuild({ index: "src/index.ts", engine: "src/engine.ts" }, ["dockerode", "@sandbox/core", "@sandbox/docker-engine"]));
