import { defineConfig } from "tsup";
import { packageBuild } from "../../tsup.shared.js";

export default defineConfig(
  packageBuild({ index: "src/index.ts", conformance: "src/conformance/index.ts", processes: "src/processes.ts" }, ["vitest", "deepagents", "langsmith"]),
);
