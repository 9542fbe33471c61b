/**
 * ALBEF's retrieval evaluation (Retrieval.py `evaluation`): rank the whole
 * gallery by ITC similarity, then re-score only each query's top k candidates
 * with the fusion encoder — the ITM class-1 logit — and give every other
 * entry −100. BLIP's evaluation (`train_retrieval.py`) adds the candidate's
 * ITC similarity to that logit: `score: "itm+itc"`.
 */
import { tf, type Tensor, type VisionLanguageModel, type World } from "../../../core/index.ts";

export interface EncodedGallery {
  /** [nImages, Nv, Dv] image token sequences */
  imageEmbeds: Tensor;
  /** [nTexts, L, Dt] text encoder outputs */
  textEmbeds: Tensor;
  /** [nTexts, L] int32 */
  textMask: Tensor;
}

export interface RerankedScores {
  /** [nImages, nTexts] row-major */
  i2t: Float32Array;
  /** [nTexts, nImages] row-major */
  t2i: Float32Array;
}

/** The value ALBEF gives to entries outside a query's top k. */
export const UNSCORED = -100;

/** Indices of the k largest values of `row` (descending; ties by lower index). */
export function topK(row: Float32Array, k: number): Int32Array {
  const idx = Array.from(row.keys());
  idx.sort((a, b) => row[b] - row[a] || a - b);
  return Int32Array.from(idx.slice(0, Math.min(k, row.length)));
}

/**
 * What a re-scored candidate gets: `itm`, ALBEF's ITM class-1 logit z1;
 * `itm-log-odds`, z1 − z0, the match log-odds the ITM loss trains (softmax
 * cross-entropy fixes only the difference: z1 + z0 is whatever the head's
 * initialisation put there, noise in a ranking across pairs); `itm+itc`,
 * BLIP's z1 plus the ITC similarity (the cosine); `joint`, the two heads' evidence as
 * log-likelihoods: log σ(z1 − z0), the log-probability of a match by ITM, plus ITC's
 * similarity logit cos/τ (a product of the two experts; ITC alone decides between
 * candidates ITM cannot tell apart, ITM where it can).
 */
export type RerankScore = "itm" | "itm-log-odds" | "itm+itc" | "joint";
export const RERANK_SCORES = ["itm", "itm-log-odds", "itm+itc", "joint"] as const satisfies readonly RerankScore[];

export interface RerankOptions {
  /** candidates per query */
  k: number;
  /**
   * score only the queries of this process's share (query q by rank q mod size: images first,
   * then texts), leaving 0 in every other query's row, so that summing every rank's matrices
   * (`shareReranked`) gives the whole; default: every query
   */
  share?: { rank: number; size: number };
  /** pairs fused at a time */
  batchSize?: number;
  score?: RerankScore;
  /** (done, total) in queries */
  onProgress?: (done: number, total: number) => void;
}

/** A pair to fuse: its ITC similarity, and where its score goes (`out[at]`), for query `query` (images first, then texts). */
interface Candidate {
  image: number;
  text: number;
  out: Float32Array;
  at: number;
  query: number;
  sim: number;
}

/** `sim` [nImages, nTexts] ITC similarities (row-major). */
export function itmRerank(model: VisionLanguageModel, gallery: EncodedGallery, sim: Float32Array, opts: RerankOptions): RerankedScores {
  const { k, batchSize = 64, score: scoreKind = "itm", onProgress, share = { rank: 0, size: 1 } } = opts;
  const mine = (query: number) => query % share.size === share.rank;
  const nI = gallery.imageEmbeds.shape[0] as number;
  const nT = gallery.textEmbeds.shape[0] as number;
  if (sim.length !== nI * nT) throw new Error(`itmRerank: similarity has ${sim.length} entries, expected ${nI} × ${nT}`);
  const i2t = new Float32Array(nI * nT);
  const t2i = new Float32Array(nT * nI);
  for (let i = 0; i < nI; i++) if (mine(i)) i2t.fill(UNSCORED, i * nT, (i + 1) * nT);
  for (let t = 0; t < nT; t++) if (mine(nI + t)) t2i.fill(UNSCORED, t * nI, (t + 1) * nI);
  // every (image, text) pair to score and where its score goes, generated query by query (COCO: 7.7M pairs)
  function* pairs(): Generator<Candidate> {
    for (let i = 0; i < nI; i++) {
      if (!mine(i)) continue;
      for (const t of topK(sim.subarray(i * nT, (i + 1) * nT), k)) yield { image: i, text: t, out: i2t, at: i * nT + t, query: i, sim: sim[i * nT + t] };
    }
    const column = new Float32Array(nI);
    for (let t = 0; t < nT; t++) {
      if (!mine(nI + t)) continue;
      for (let i = 0; i < nI; i++) column[i] = sim[i * nT + t];
      for (const i of topK(column, k)) yield { image: i, text: t, out: t2i, at: t * nI + i, query: nI + t, sim: column[i] };
    }
  }
  const total = nI + nT;
  const score = (chunk: Candidate[]) => {
    const logits = tf.tidy(() => {
      const ti = tf.tensor1d(
        chunk.map((p) => p.text),
        "int32",
      );
      const ii = tf.tensor1d(
        chunk.map((p) => p.image),
        "int32",
      );
      const l = model.matchLogits(tf.gather(gallery.textEmbeds, ti), tf.gather(gallery.textMask, ti), tf.gather(gallery.imageEmbeds, ii));
      const z1 = tf.squeeze(tf.slice(l, [0, 1], [-1, 1]), [1]);
      if (scoreKind === "itm" || scoreKind === "itm+itc") return z1;
      const logOdds = tf.sub(z1, tf.squeeze(tf.slice(l, [0, 0], [-1, 1]), [1]));
      if (scoreKind === "itm-log-odds") return logOdds;
      const itcLogits = model.requireEmbedding("joint re-ranking").scaleSimilarity(tf.tensor1d(chunk.map((p) => p.sim)));
      return tf.add(tf.logSigmoid(logOdds), itcLogits);
    });
    const v = logits.dataSync();
    logits.dispose();
    chunk.forEach((p, j) => (p.out[p.at] = scoreKind === "itm+itc" ? v[j] + p.sim : v[j]));
    onProgress?.(chunk[chunk.length - 1].query + 1, total);
  };
  let chunk: Candidate[] = [];
  for (const p of pairs()) {
    chunk.push(p);
    if (chunk.length === batchSize) {
      score(chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) score(chunk);
  return { i2t, t2i };
}

/**
 * The whole re-ranked matrices on every rank of a data-parallel run, from each rank's share
 * (`RerankOptions.share`): every row is one rank's and 0 on the others, so the sum is exact.
 */
export async function shareReranked(world: World, scores: RerankedScores): Promise<RerankedScores> {
  if (world.size === 1) return scores;
  await world.allreduceSum(scores.i2t);
  await world.allreduceSum(scores.t2i);
  return scores;
}
