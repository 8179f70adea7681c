import { defineConfig } from "vitest/config";
import { startFirst } from "../../vitest.shared.js";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Engine restarts run alone, from vitest.serial.config.ts (`pnpm test:serial`).
    exclude: ["**/node_modules/**", "test/**/*.serial.test.ts"],
    // Files run in parallel: most of a file's time is spent waiting (on the
    // engine, on sleeps, timeouts and lifetimes the cases provoke), so three
    // at once keep a 2-core machine busy; vitest's default there is one.
    // The conformance shards are the longest files: they start first.
    maxWorkers: 3,
    sequence: { sequencer: startFirst([/\.conformance\.test\.ts$/]) },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
