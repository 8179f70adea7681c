import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { startFirst } from "../../vitest.shared.js";

export default defineConfig({
  resolve: {
    // The seed snippets import this package by its published name.
    alias: { "@sandbox/modal": fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
  },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Integration files start their own emulator and containers and spend
    // most of their time waiting on them, so three run at once (vitest's
    // default on a 2-core machine is one). The conformance shards, the
    // longest files, start first; the reattach case, which waits two minutes
    // on purpose, next, so that its wait overlaps the other files.
    maxWorkers: 3,
    sequence: { sequencer: startFirst([/\.conformance\.test\.ts$/, /reattach\.integration\.test\.ts$/]) },
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
