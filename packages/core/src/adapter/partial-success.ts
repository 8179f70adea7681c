/**
 * Partial success in input order, for per-file calls: `operation` gets the
 * entries `accept` turned into a valid value (in their order) and its results
 * go back to those entries' positions; an entry `accept` refused gets the
 * result `refuse` builds for it. `operation` is not called when no entry is
 * valid.
 */
export async function inInputOrder<Entry, Valid, Result>(
  entries: readonly Entry[],
  accept: (entry: Entry) => Valid | undefined,
  refuse: (entry: Entry) => Result,
  operation: (valid: Valid[]) => Promise<Result[]>,
): Promise<Result[]> {
  const results: Result[] = new Array(entries.length);
  const valid: Valid[] = [];
  const positions: number[] = [];
  entries.forEach((entry, index) => {
    const accepted = accept(entry);
    if (accepted === undefined) {
      results[index] = refuse(entry);
      return;
    }
    valid.push(accepted);
    positions.push(index);
  });
  if (valid.length > 0) {
    const done = await operation(valid);
    done.forEach((result, index) => {
      results[positions[index]!] = result;
    });
  }
  return results;
}
