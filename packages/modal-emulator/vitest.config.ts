import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    // Integration files start containers and wait on the engine more than
    // they compute: two files at a time (each with its own emulator; tests
    // inside a file share it). More than two contend for the 2-core machine.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
