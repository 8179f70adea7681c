import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * A vitest sequencer that starts the files matching `first` before the others
 * (in the order of the patterns), then keeps vitest's own order. Vitest
 * starts the longest files first only when it has timings from an earlier
 * run; a fresh CI clone has none, and its fallback (largest file first)
 * would start the conformance files (a few lines calling the suite in core)
 * last, so a package's run would end with its longest files running alone.
 */
export function startFirst(first: RegExp[]): typeof BaseSequencer {
  return class StartFirst extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const sorted = await super.sort(files);
      const rank = (spec: TestSpecification) => {
        const index = first.findIndex((pattern) => pattern.test(spec.moduleId));
        return index === -1 ? first.length : index;
      };
      return sorted
        .map((spec, order) => ({ spec, order, rank: rank(spec) }))
        .sort((a, b) => a.rank - b.rank || a.order - b.order)
        .map(({ spec }) => spec);
    }
  };
}
