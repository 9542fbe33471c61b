/** Mean and spread over seeds, and whether two variants differ by more than their spread. */

export interface SeedStats {
  /** the per-seed values, in seed order (null where a run did not report the figure) */
  values: (number | null)[];
  n: number;
  mean: number | null;
  /** sample standard deviation (n − 1); 0 for a single seed */
  std: number | null;
}

export function seedStats(values: readonly (number | null)[]): SeedStats {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { values: [...values], n, mean: null, std: null };
  const mean = xs.reduce((a, x) => a + x, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { values: [...values], n, mean, std };
}

/**
 * A difference "exceeds the seed spread" when the two means are further apart
 * than the sum of their standard deviations — a rough, stated rule, not a
 * significance test; undecidable (null) with fewer than two seeds on a side.
 */
export function exceedsSpread(a: SeedStats, b: SeedStats): boolean | null {
  if (a.mean === null || b.mean === null || a.n < 2 || b.n < 2) return null;
  return Math.abs(a.mean - b.mean) > (a.std ?? 0) + (b.std ?? 0);
}
