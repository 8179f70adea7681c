import type { Options } from "tsup";

/**
 * The one tsup shape every package builds with: ESM only, declarations,
 * source maps, Node 20 target. Packages pass their entries and externals.
 */
export function packageBuild(entry: Record<string, string>, external: string[] = []): Options {
  return {
    entry,
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
    platform: "node",
    splitting: true,
    treeshake: true,
    keepNames: true,
    external,
  };
}
