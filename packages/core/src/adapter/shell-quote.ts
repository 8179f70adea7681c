/** Quotes `value` as one word for `sh` (single quotes, `'` spelled `'\''`). */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
