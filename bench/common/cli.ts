/** Helpers every bench uses: integer options from argv, percentiles, rounding, a bounded sleep. */

/** `--name N` from the command line: an integer from 1 to `max`, or `fallback`; anything else stops the bench naming the option. */
export function option(name: string, fallback: number, max: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`${name} must be an integer from 1 to ${max}`);
  return value;
}

/** The nearest-rank percentile (NaN for no values). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
}

export const round1 = (n: number) => Math.round(n * 10) / 10;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
