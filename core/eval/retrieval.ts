/**
 * Image–text retrieval metrics from a similarity matrix where caption i
 * belongs to image i: recall@K in both directions, their mean, and chance.
 */
export interface RetrievalMetrics {
  n: number;
  i2t: { r1: number; r5: number; r10: number };
  t2i: { r1: number; r5: number; r10: number };
  rMean: number;
  /** recall@K of a random ranking: K / n */
  chance: { r1: number; r5: number; r10: number };
}

/** Rank (0-based) of the matching column in each row of `sim` [n, n] (row-major). */
function ranksOfDiagonal(sim: Float32Array, n: number, byRow: boolean): Int32Array {
  const ranks = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const target = byRow ? sim[i * n + i] : sim[i * n + i];
    let rank = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const v = byRow ? sim[i * n + j] : sim[j * n + i];
      if (v > target) rank++;
    }
    ranks[i] = rank;
  }
  return ranks;
}

/** `sim[i, j]` = similarity of image i and caption j. */
export function retrievalMetrics(sim: Float32Array, n: number): RetrievalMetrics {
  const i2t = ranksOfDiagonal(sim, n, true);
  const t2i = ranksOfDiagonal(sim, n, false);
  const recall = (ranks: Int32Array, k: number) => (100 * ranks.filter((r) => r < k).length) / Math.max(n, 1);
  const m = {
    i2t: { r1: recall(i2t, 1), r5: recall(i2t, 5), r10: recall(i2t, 10) },
    t2i: { r1: recall(t2i, 1), r5: recall(t2i, 5), r10: recall(t2i, 10) },
  };
  const rMean = (m.i2t.r1 + m.i2t.r5 + m.i2t.r10 + m.t2i.r1 + m.t2i.r5 + m.t2i.r10) / 6;
  const chance = (k: number) => (100 * Math.min(k, n)) / Math.max(n, 1);
  return { n, ...m, rMean, chance: { r1: chance(1), r5: chance(5), r10: chance(10) } };
}
