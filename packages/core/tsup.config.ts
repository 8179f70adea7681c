import { defineConfig } from "tsup";
import { packageBuild } from "../../tsup.shared.js";

export default defineConfig(
  packageBuild({ index: "src/index.ts", conformance: "src/conformance/index.ts", "host-tools": "src/host-tools.ts" }, ["vitest", "deepagents", "langsmith"]),
);
