import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    // Integration files start containers; the engine is the bottleneck on a
    // 2-core machine, so files run one at a time and tests inside a file share
    // one emulator.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
