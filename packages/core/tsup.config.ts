import { defineConfig } from "tsup";
import { packageBuild } from "../../tsup.shared.js";

export default defineConfig(
  packageBuild({ index: "src/index.ts", conformance: "src/conformance/index.ts", "process-control": "src/process-control.ts" }, ["vitest", "deepagents", "langsmith"]),
);
