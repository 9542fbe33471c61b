/**
 * Image–text retrieval metrics: recall@K in both directions, their mean, and
 * chance. The rules, for figures that do not depend on the order of the
 * gallery: a caption whose text is identical to one of an image's captions is
 * a correct answer for that image (the built-in set repeats captions across
 * images, and such a caption describes both); any other exact tie between a
 * correct and a wrong answer ranks the wrong one first (the pessimistic rank),
 * and the number of queries where that happened is reported.
 */
export interface RetrievalMetrics {
  n: number;
  i2t: { r1: number; r5: number; r10: number };
  t2i: { r1: number; r5: number; r10: number };
  rMean: number;
  /** recall@K of a random ranking, each way (a shared caption widens what counts as correct) */
  chance: { i2t: Recalls; t2i: Recalls };
  /** queries whose best correct answer ties exactly with a wrong one inside the top 10 (ranked behind it) */
  ties: { i2t: number; t2i: number };
  /** captions whose text is also another image's caption (each counts as correct for both images) */
  sharedTexts: number;
}

/** A caption's identity for the tie rule: its token ids up to the end of its mask. */
export function tokenKey(ids: Int32Array, mask: Int32Array): string {
  let n = 0;
  while (n < mask.length && mask[n] === 1) n++;
  return Array.from(ids.subarray(0, n)).join(" ");
}

/**
 * `sim[i, j]` = similarity of image i and caption j, caption i belonging to
 * image i (zero-shot: one caption per image). `textKeys` (a caption's text or
 * token ids) lets a caption identical to image i's count as correct for it;
 * ties are ranked as in galleryRetrievalMetrics.
 */
export function retrievalMetrics(sim: Float32Array, n: number, textKeys?: readonly string[]): RetrievalMetrics {
  const t2i = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t2i[j * n + i] = sim[i * n + j];
  const m = galleryRetrievalMetrics(
    sim,
    t2i,
    Int32Array.from({ length: n }, (_, i) => i),
    n,
    textKeys,
  );
  return {
    n,
    i2t: m.i2t,
    t2i: m.t2i,
    rMean: m.rMean,
    chance: m.chance,
    ties: m.ties,
    sharedTexts: m.sharedTexts,
  };
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
  /** queries whose best correct answer ties exactly with a wrong one inside the top 10 (ranked behind it) */
  ties: { i2t: number; t2i: number };
  /** captions whose text is also another image's caption (correct for both) */
  sharedTexts: number;
}

/** 0-based rank of the best of `targets` in `row`: wrong columns above it, and those equal to it (the pessimistic rank); whether such a tie fell in the top 10. */
function rankOfBest(row: Float32Array, targets: readonly number[]): { rank: number; tiedInTop10: boolean } {
  let best = -Infinity;
  for (const t of targets) best = Math.max(best, row[t]);
  const correct = new Set(targets);
  let above = 0;
  let tied = 0;
  for (let j = 0; j < row.length; j++) {
    if (correct.has(j)) continue;
    if (row[j] > best) above++;
    else if (row[j] === best) tied++;
  }
  return { rank: above + tied, tiedInTop10: tied > 0 && above < 10 };
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
export function galleryRetrievalMetrics(
  i2t: Float32Array,
  t2i: Float32Array,
  textImage: Int32Array,
  nImages: number,
  textKeys?: readonly string[],
): GalleryRetrievalMetrics {
  const nTexts = textImage.length;
  if (i2t.length !== nImages * nTexts || t2i.length !== nImages * nTexts) throw new Error(`scores must be ${nImages} × ${nTexts}`);
  if (textKeys && textKeys.length !== nTexts) throw new Error(`textKeys: ${textKeys.length} for ${nTexts} captions`);
  const captions: number[][] = Array.from({ length: nImages }, () => []);
  textImage.forEach((img, t) => {
    if (!(img >= 0 && img < nImages)) throw new Error(`caption ${t} points at image ${img}, outside 0..${nImages - 1}`);
    captions[img].push(t);
  });
  // identical texts: every caption with the same key, and every image one of them belongs to
  const byKey = new Map<string, number[]>();
  if (textKeys) textKeys.forEach((k, t) => byKey.set(k, [...(byKey.get(k) ?? []), t]));
  const sameText = (t: number) => (textKeys ? (byKey.get(textKeys[t]) as number[]) : [t]);
  const imageTargets = captions.map((ts) => [...new Set(ts.flatMap(sameText))]);
  const textTargets = Array.from(textImage, (_, t) => [...new Set(sameText(t).map((u) => textImage[u]))]);
  const sharedTexts = Array.from(textImage, (img, t) => sameText(t).some((u) => textImage[u] !== img)).filter(Boolean).length;
  const ties = { i2t: 0, t2i: 0 };
  const imageRanks = imageTargets.map((targets, i) => {
    if (targets.length === 0) return Infinity;
    const r = rankOfBest(i2t.subarray(i * nTexts, (i + 1) * nTexts), targets);
    if (r.tiedInTop10) ties.i2t++;
    return r.rank;
  });
  const textRanks = textTargets.map((targets, t) => {
    const r = rankOfBest(t2i.subarray(t * nImages, (t + 1) * nImages), targets);
    if (r.tiedInTop10) ties.t2i++;
    return r.rank;
  });
  const recall = (ranks: number[], k: number) => (100 * ranks.filter((r) => r < k).length) / Math.max(ranks.length, 1);
  const recalls = (ranks: number[]): Recalls => ({ r1: recall(ranks, 1), r5: recall(ranks, 5), r10: recall(ranks, 10) });
  const m = { i2t: recalls(imageRanks), t2i: recalls(textRanks) };
  const chanceI2T = (k: number) => (100 * imageTargets.reduce((a, ts) => a + 1 - noneDrawn(nTexts, ts.length, k), 0)) / Math.max(nImages, 1);
  const chanceT2I = (k: number) => (100 * textTargets.reduce((a, ts) => a + 1 - noneDrawn(nImages, ts.length, k), 0)) / Math.max(nTexts, 1);
  return {
    images: nImages,
    texts: nTexts,
    ...m,
    rMean: (m.i2t.r1 + m.i2t.r5 + m.i2t.r10 + m.t2i.r1 + m.t2i.r5 + m.t2i.r10) / 6,
    chance: {
      i2t: { r1: chanceI2T(1), r5: chanceI2T(5), r10: chanceI2T(10) },
      t2i: { r1: chanceT2I(1), r5: chanceT2I(5), r10: chanceT2I(10) },
    },
    ties,
    sharedTexts,
  };
}
