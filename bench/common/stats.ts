/** Rounding and summary statistics shared by the benches. */

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

/** p50/p90/p99/max of latency samples in ms (sorts `values` in place). */
export function latencyStats(values: number[]) {
  const sorted = values.sort((x, y) => x - y);
  return { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? NaN), samples: sorted.length };
}
