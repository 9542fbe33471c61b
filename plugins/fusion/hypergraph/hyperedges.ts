/**
 * Hypergraph structure over tokens (the polyalign branch): kNN hyperedges
 * (one per valid centre, k members counting the centre, cosine), spherical
 * k-means hyperedges (C clusters, T Lloyd steps, strided seeding), and the
 * normalised propagation matrix A = Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 ("sym") or
 * Dv^-1 H W De^-1 Hᵀ ("mean"). Padding never takes part; zero degrees give
 * zero rows. The structure carries no gradient: the incidence is built inside
 * tf.customGrad with zero gradients (tfjs has no stopGradient, and TopK has
 * no gradient at all), and A is formed from it without comparisons on the tape.
 */
import { tf, type Tensor } from "../../../core/index.ts";

export type ModalityMode = "joint" | "cross" | "balanced";

export interface HyperedgeOptions {
  /** kNN hyperedge size including the centre */
  k: number;
  /** k-means clusters per sample (0 = none) */
  clusters: number;
  /** Lloyd iterations */
  iterations: number;
  modalityMode: ModalityMode;
  /** random k-means seeding instead of strided (a seed per call) */
  randomInitSeed?: number;
}

/** x / max(‖x‖₂, 1e-6) per token. */
export function normalizeTokens(x: Tensor): Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), 1e-6)));
}

const BIG = 1e9;

/**
 * kNN incidence H [B, N(vertex), N(edge)]: edge j holds centre j and its k−1
 * most similar valid tokens (cosine on normalised xn). Edges centred on padding
 * are empty. `modality` (0 image, 1 text) restricts members in the cross and
 * balanced modes.
 */
export function knnIncidence(xn: Tensor, mask: Tensor, k: number, modality?: Tensor, mode: ModalityMode = "joint"): Tensor {
  return tf.tidy(() => {
    const [b, n] = xn.shape as [number, number, number];
    const kk = Math.min(k, n);
    const s = tf.matMul(xn, xn, false, true);
    const eye = tf.eye(n);
    const padCols = tf.mul(tf.reshape(tf.sub(1, mask), [b, 1, n]), -BIG);
    const base = tf.add(tf.add(s, padCols), tf.mul(eye, 10)); // centre first, pads last
    const valid = tf.mul(tf.reshape(mask, [b, n, 1]), tf.reshape(mask, [b, 1, n]));
    const pick = (scores: Tensor, count: number) => {
      if (count <= 0) return tf.zeros([b, n, n]);
      const idx = tf.topk(scores, Math.min(count, n)).indices;
      return tf.minimum(tf.sum(tf.oneHot(idx, n, 1, 0, "float32"), 2), 1);
    };
    let ht: Tensor;
    if (mode === "joint" || !modality) {
      ht = pick(base, kk);
    } else {
      const same = tf.equal(tf.reshape(modality, [b, n, 1]), tf.reshape(modality, [b, 1, n]));
      const sameF = tf.sub(tf.cast(same, "float32"), eye); // same modality, not the centre
      const otherF = tf.sub(1, tf.cast(same, "float32"));
      const centre = tf.broadcastTo(tf.reshape(eye, [1, n, n]), [b, n, n]);
      if (mode === "cross") {
        // members besides the centre come from the other modality
        const scores = tf.sub(base, tf.mul(sameF, BIG));
        ht = tf.mul(pick(scores, kk), tf.add(otherF, centre));
      } else {
        const kc = Math.floor((kk - 1) / 2);
        const ks = kk - 1 - kc;
        const sameScores = tf.sub(tf.sub(base, tf.mul(tf.add(otherF, centre), BIG)), 0);
        const otherScores = tf.sub(base, tf.mul(tf.add(sameF, centre), BIG));
        const hs = tf.mul(pick(sameScores, ks), sameF);
        const ho = tf.mul(pick(otherScores, kc), otherF);
        ht = tf.minimum(tf.add(tf.add(hs, ho), centre), 1);
      }
    }
    // ht is [edge, vertex]; drop pad centres and pad members, then put vertices first
    return tf.transpose(tf.mul(ht, valid), [0, 2, 1]);
  });
}

/** Strided k-means seeds: target ranks floor((2j+1)·nValid / 2C) among the valid tokens → [B, C, D]. */
function stridedSeeds(xn: Tensor, mask: Tensor, c: number): Tensor {
  return tf.tidy(() => {
    const [b, n] = mask.shape as [number, number];
    const rank = tf.sub(tf.cumsum(mask, 1), 1);
    const nv = tf.sum(mask, 1, true);
    const j = tf.reshape(tf.range(0, c, 1, "float32"), [1, c]);
    const target = tf.floor(tf.div(tf.mul(tf.add(tf.mul(j, 2), 1), nv), 2 * c)); // [B, C]
    const sel = tf.mul(tf.cast(tf.equal(tf.reshape(rank, [b, 1, n]), tf.reshape(target, [b, c, 1])), "float32"), tf.reshape(mask, [b, 1, n]));
    return tf.matMul(sel, xn);
  });
}

function randomSeeds(xn: Tensor, mask: Tensor, c: number, seed: number): Tensor {
  return tf.tidy(() => {
    const [b, n] = mask.shape as [number, number];
    const score = tf.add(tf.mul(tf.randomUniform([b, n], 0, 1, "float32", seed), mask), tf.mul(tf.sub(mask, 1), 2));
    const idx = tf.topk(score, Math.min(c, n)).indices;
    return tf.matMul(tf.oneHot(idx, n, 1, 0, "float32"), xn);
  });
}

/** Spherical k-means incidence H [B, N, C]: each valid token in exactly one cluster; empty clusters are zero columns. */
export function kmeansIncidence(xn: Tensor, mask: Tensor, c: number, iterations: number, randomInitSeed?: number): Tensor {
  return tf.tidy(() => {
    const [b, n] = mask.shape as [number, number];
    let centroids = randomInitSeed === undefined ? stridedSeeds(xn, mask, c) : randomSeeds(xn, mask, c, randomInitSeed);
    const m3 = tf.reshape(mask, [b, n, 1]);
    const assign = (cent: Tensor) => {
      const cn = normalizeTokens(cent);
      return tf.mul(tf.oneHot(tf.argMax(tf.matMul(xn, cn, false, true), 2), c, 1, 0, "float32"), m3);
    };
    for (let t = 0; t < iterations; t++) {
      const next = tf.tidy(() => {
        const r = assign(centroids);
        const cnt = tf.sum(r, 1); // [B, C]
        const mean = tf.div(tf.matMul(r, xn, true, false), tf.reshape(tf.maximum(cnt, 1), [b, c, 1]));
        // an empty cluster keeps its centroid (its mean is 0); a blend by 0/1 rather than tf.where,
        // whose broadcast condition goes through tfjs' per-element Tile of a bool tensor (1.4 ms a call at base size)
        const kept = tf.reshape(tf.minimum(cnt, 1), [b, c, 1]);
        return tf.add(tf.mul(mean, kept), tf.mul(centroids, tf.sub(1, kept)));
      });
      centroids.dispose();
      centroids = next;
    }
    return assign(centroids);
  });
}

/**
 * The incidence H = [H_knn | H_km] of `x` [B, N, D] as a constant of the
 * gradient tape (zero gradient to every input).
 */
export function hypergraphIncidence(x: Tensor, mask: Tensor, modality: Tensor, opts: HyperedgeOptions): Tensor {
  const fn = (xi: Tensor, mi: Tensor, mo: Tensor) => {
    const inputs = [xi, mi, mo];
    const value = tf.tidy(() => {
      const xn = normalizeTokens(xi);
      const parts = [knnIncidence(xn, mi, opts.k, mo, opts.modalityMode)];
      if (opts.clusters > 0) parts.push(kmeansIncidence(xn, mi, opts.clusters, opts.iterations, opts.randomInitSeed));
      return parts.length === 1 ? parts[0] : tf.concat(parts, 2);
    });
    return { value, gradFunc: () => inputs.map((t) => tf.zerosLike(t)) };
  };
  const build = tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]);
  return build(x, mask, modality);
}

export type HypergraphNorm = "sym" | "mean";

/**
 * A from the incidence H [B, N, E] and edge weights w ([E] or [B, E]).
 * Degrees: dv = Σ_e h·w, de = Σ_v h; zero degrees give zero rows/columns.
 * Only products, sums, minima and reciprocals: differentiable in w.
 */
export function hypergraphAdjacency(h: Tensor, w: Tensor, norm: HypergraphNorm = "sym"): Tensor {
  return tf.tidy(() => {
    const [b, n, e] = h.shape as [number, number, number];
    const w2 = w.rank === 1 ? tf.reshape(w, [1, e]) : w;
    const w3 = tf.reshape(w2, [w2.shape[0] as number, 1, e]);
    const dv = tf.sum(tf.mul(h, w3), 2); // [B, N]
    const de = tf.sum(h, 1); // [B, E]
    const vMask = tf.minimum(tf.sum(h, 2), 1); // 1 where the vertex is in some edge (H is binary)
    const eMask = tf.minimum(de, 1);
    const deInv = tf.mul(tf.reciprocal(tf.add(de, tf.sub(1, eMask))), eMask);
    const scale = tf.reshape(tf.mul(w2, deInv), [-1, 1, e]);
    if (norm === "mean") {
      const dvInv = tf.mul(tf.reciprocal(tf.add(dv, tf.sub(1, vMask))), vMask);
      return tf.mul(tf.reshape(dvInv, [b, n, 1]), tf.matMul(tf.mul(h, scale), h, false, true));
    }
    const dvis = tf.mul(tf.rsqrt(tf.add(dv, tf.sub(1, vMask))), vMask);
    const hs = tf.mul(h, tf.reshape(dvis, [b, n, 1]));
    return tf.matMul(tf.mul(hs, scale), hs, false, true);
  });
}

/** Fraction of non-empty hyperedges that hold both image (0) and text (1) tokens. */
export function bimodalFraction(h: Tensor, modality: Tensor): number {
  return tf.tidy(() => {
    const [b, n] = modality.shape as [number, number];
    const m = tf.reshape(modality, [b, n, 1]);
    const text = tf.sum(tf.mul(h, m), 1);
    const image = tf.sum(tf.mul(h, tf.sub(1, m)), 1);
    const both = tf.sum(tf.mul(tf.minimum(text, 1), tf.minimum(image, 1)));
    const nonEmpty = tf.sum(tf.minimum(tf.add(text, image), 1));
    const ne = nonEmpty.dataSync()[0];
    return ne > 0 ? both.dataSync()[0] / ne : 0;
  });
}
