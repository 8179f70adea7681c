import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Engine restarts run alone, from vitest.serial.config.ts.
    exclude: ["**/node_modules/**", "test/**/*.serial.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
