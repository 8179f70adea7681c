import { defineConfig } from "vitest/config";

// Tests that stop or restart the Docker engine: run alone, never in parallel
// with anything (stopping dockerd stops every container on the machine).
// `pnpm test` at the root runs them (`pnpm test:serial` here) after every
// package's `test` has finished.
export default defineConfig({
  test: {
    include: ["test/**/*.serial.test.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
