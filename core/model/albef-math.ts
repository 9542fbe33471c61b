/**
 * The pieces of ALBEF's pre-training losses that are plain math: MLM masking,
 * ITM hard-negative sampling, and the three losses given their inputs.
 */
import { tf, type Tensor } from "../tensor/tf.ts";
import type { Rng } from "../tensor/rng.ts";

export interface MlmMasking {
  /** ids fed to the MLM pass [B*L] */
  inputIds: Int32Array;
  /** original id at masked positions, −100 elsewhere [B*L] */
  labels: Int32Array;
  /** flat indices b·L + l of the labelled positions, row-major */
  positions: Int32Array;
}

/**
 * ALBEF's masking: Bernoulli(p) per position, never [PAD] or [CLS]; of the
 * masked, 80 % → [MASK], 10 % → a random id in [0, vocab), 10 % kept.
 * `given` replaces the draws (mask, written tokens) for reproducing a run.
 */
export function mlmMask(
  ids: Int32Array,
  special: { pad: number; cls: number; mask: number },
  vocab: number,
  probability: number,
  rng: Rng,
  given?: { mask: Int32Array; replace?: Int32Array },
): MlmMasking {
  const inputIds = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(-100);
  const positions: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const maskable = ids[i] !== special.pad && ids[i] !== special.cls;
    const chosen = given ? given.mask[i] === 1 : rng.uniform() < probability;
    if (!chosen || !maskable) continue;
    labels[i] = ids[i];
    positions.push(i);
    if (given) inputIds[i] = given.replace ? given.replace[i] : special.mask;
    else if (rng.uniform() < 0.8) inputIds[i] = special.mask;
    else if (rng.uniform() < 0.5) inputIds[i] = rng.int(vocab);
  }
  return { inputIds, labels, positions: Int32Array.from(positions) };
}

/**
 * One negative per row from ITM weights [B, B] (positives already 0):
 * renormalised; a row with no usable weight falls back to a uniform draw over
 * the allowed columns — not the row itself and, with `ids`, no column of the
 * same image; a row without any allowed column gets −1 (a batch of one, or of
 * one image only).
 */
export function sampleNegatives(weights: Float32Array, b: number, rng: Rng, ids?: Int32Array): Int32Array {
  const out = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const allowed: number[] = [];
    for (let j = 0; j < b; j++) if (j !== i && (!ids || ids[j] !== ids[i])) allowed.push(j);
    if (allowed.length === 0) {
      out[i] = -1;
      continue;
    }
    let sum = 0;
    for (const j of allowed) {
      const w = weights[i * b + j];
      if (Number.isFinite(w) && w > 0) sum += w;
    }
    if (!(sum > 0)) {
      out[i] = allowed[rng.int(allowed.length)];
      continue;
    }
    let u = rng.uniform() * sum;
    let pick = -1;
    for (const j of allowed) {
      const w = weights[i * b + j];
      if (!(Number.isFinite(w) && w > 0)) continue;
      pick = j;
      u -= w;
      if (u < 0) break;
    }
    out[i] = pick;
  }
  return out;
}

/** −mean_i Σ_j targets[i, j] · log_softmax(logits)[i, j]. */
export function softTargetCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits, -1), targets), -1))));
}

/** Cross-entropy with integer labels, mean over rows. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  return tf.tidy(() => {
    const n = logits.shape[logits.rank - 1] as number;
    return softTargetCrossEntropy(logits, tf.oneHot(tf.cast(labels, "int32"), n));
  });
}

/**
 * ITC targets: α · softmax(momentum logits) + (1 − α) · ground truth. The
 * ground truth [B, B+Q] is the one-hot batch diagonal in pre-training, or
 * `idTargets` when fine-tuning with image ids.
 */
export function itcTargets(simMomentum: Tensor, alpha: number, truth?: Tensor): Tensor {
  return tf.tidy(() => {
    const [b, n] = simMomentum.shape as [number, number];
    const gt = truth ?? tf.concat([tf.eye(b), tf.zeros([b, n - b])], 1);
    return tf.add(tf.mul(tf.softmax(simMomentum, -1), alpha), tf.mul(gt, 1 - alpha));
  });
}

/**
 * ALBEF's fine-tuning ground truth (Retrieval.py): every column whose image id
 * equals the row's is a positive, and the row's mass is spread evenly over
 * them (pos / count). `columnIds` are the batch's ids then the id queue's.
 */
export function idTargets(rowIds: Int32Array, columnIds: Int32Array): Tensor {
  const b = rowIds.length;
  const n = columnIds.length;
  const out = new Float32Array(b * n);
  for (let i = 0; i < b; i++) {
    let count = 0;
    for (let j = 0; j < n; j++) if (columnIds[j] === rowIds[i]) count++;
    if (count === 0) throw new Error(`image id ${rowIds[i]} of row ${i} is not among the ITC columns (the batch's own ids must come first)`);
    for (let j = 0; j < n; j++) if (columnIds[j] === rowIds[i]) out[i * n + j] = 1 / count;
  }
  return tf.tensor2d(out, [b, n]);
}

/**
 * ITM hard-negative weights [B, B]: softmax over the in-batch similarities with
 * the positives zeroed — the diagonal, or with image ids every same-id pair
 * (ALBEF's retrieval fine-tuning), so an image's other captions are never its negatives.
 */
export function itmNegativeWeights(sim: Tensor, b: number, ids?: Int32Array): Tensor {
  return tf.tidy(() => {
    const keep = new Float32Array(b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) keep[i * b + j] = (ids ? ids[i] === ids[j] : i === j) ? 0 : 1;
    return tf.mul(tf.softmax(tf.slice(sim, [0, 0], [b, b]), -1), tf.tensor2d(keep, [b, b]));
  });
}
