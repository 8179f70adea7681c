import { defineConfig } from "vitest/config";

// Tests that stop or restart the Docker engine: run alone, after the rest
// (`pnpm test` runs this config second), never in parallel with anything.
export default defineConfig({
  test: {
    include: ["test/**/*.serial.test.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
