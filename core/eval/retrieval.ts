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

export interface Recalls {
  r1: number;
  r5: number;
  r10: number;
}

/** Retrieval over a gallery where an image has one or more captions (COCO: five). */
export interface GalleryRetrievalMetrics {
  images: number;
  texts: number;
  /** image → text (ALBEF's TR@K): an image counts when its best-ranked caption is within the top K */
  i2t: Recalls;
  /** text → image (IR@K) */
  t2i: Recalls;
  rMean: number;
  /** the same recalls for a uniformly random ranking */
  chance: { i2t: Recalls; t2i: Recalls };
}

/** 0-based rank of column `target` in `row`: entries strictly above it, ties broken by lower index first. */
function rankIn(row: Float32Array, target: number): number {
  const v = row[target];
  let rank = 0;
  for (let j = 0; j < row.length; j++) if (row[j] > v || (row[j] === v && j < target)) rank++;
  return rank;
}

/** C(n − c, k) / C(n, k): chance that none of c marked items is among k drawn from n. */
function noneDrawn(n: number, c: number, k: number): number {
  let p = 1;
  for (let j = 0; j < Math.min(k, n); j++) p *= Math.max(0, n - c - j) / (n - j);
  return p;
}

/**
 * ALBEF's `itm_eval`: `i2t` [nImages, nTexts] and `t2i` [nTexts, nImages]
 * scores (row-major), `textImage[t]` = the image caption t describes.
 */
export function galleryRetrievalMetrics(i2t: Float32Array, t2i: Float32Array, textImage: Int32Array, nImages: number): GalleryRetrievalMetrics {
  const nTexts = textImage.length;
  if (i2t.length !== nImages * nTexts || t2i.length !== nImages * nTexts) throw new Error(`scores must be ${nImages} × ${nTexts}`);
  const captions: number[][] = Array.from({ length: nImages }, () => []);
  textImage.forEach((img, t) => {
    if (!(img >= 0 && img < nImages)) throw new Error(`caption ${t} points at image ${img}, outside 0..${nImages - 1}`);
    captions[img].push(t);
  });
  const imageRanks = captions.map((ts, i) => (ts.length ? Math.min(...ts.map((t) => rankIn(i2t.subarray(i * nTexts, (i + 1) * nTexts), t))) : Infinity));
  const textRanks = Array.from(textImage, (img, t) => rankIn(t2i.subarray(t * nImages, (t + 1) * nImages), img));
  const recall = (ranks: number[], k: number) => (100 * ranks.filter((r) => r < k).length) / Math.max(ranks.length, 1);
  const recalls = (ranks: number[]): Recalls => ({ r1: recall(ranks, 1), r5: recall(ranks, 5), r10: recall(ranks, 10) });
  const m = { i2t: recalls(imageRanks), t2i: recalls(textRanks) };
  const chanceI2T = (k: number) => (100 * captions.reduce((a, ts) => a + 1 - noneDrawn(nTexts, ts.length, k), 0)) / Math.max(nImages, 1);
  const chanceT2I = (k: number) => (100 * Math.min(k, nImages)) / Math.max(nImages, 1);
  return {
    images: nImages,
    texts: nTexts,
    ...m,
    rMean: (m.i2t.r1 + m.i2t.r5 + m.i2t.r10 + m.t2i.r1 + m.t2i.r5 + m.t2i.r10) / 6,
    chance: {
      i2t: { r1: chanceI2T(1), r5: chanceI2T(5), r10: chanceI2T(10) },
      t2i: { r1: chanceT2I(1), r5: chanceT2I(5), r10: chanceT2I(10) },
    },
  };
}
