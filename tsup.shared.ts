import type { Options } from "tsup";

/**
 * The one tsup shape every package builds with: ESM (`.js`) and CommonJS
 * (`.cjs`) side by side, declarations for both (`.d.ts` and `.d.cts`),
 * source maps, Node 20 target. Packages pass their entries and externals.
 *
 * `shims` makes `import.meta.url` work in the CommonJS output (the emulator
 * resolves the modal SDK through it). Sources must not use top-level await:
 * CommonJS cannot express it, and the build fails on it.
 */
export function packageBuild(entry: Record<string, string>, external: string[] = []): Options {
  return {
    entry,
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
    platform: "node",
    splitting: true,
    treeshake: true,
    keepNames: true,
    shims: true,
    external,
  };
}
