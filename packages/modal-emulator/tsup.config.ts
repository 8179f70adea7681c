import { defineConfig } from "tsup";
import { packageBuild } from "../../tsup.shared.ts";

export default defineConfig(packageBuild({ index: "src/index.ts", bin: "src/bin.ts" }, ["modal", "nice-grpc", "@sandbox/docker-engine"]));
