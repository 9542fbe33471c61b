/**
 * Multi-head scaled dot-product attention with additive masks, as BERT and
 * ViT compute it: softmax(q kᵀ / √d + mask) v, heads interleaved in the width.
 */
import { tf, type Tensor } from "./tf.ts";
import { Module } from "./module.ts";
import { Linear, type Dropout } from "./layers.ts";
import type { Rng } from "./rng.ts";
import { ShapeError } from "../errors.ts";

/** BERT's additive mask from a 0/1 key mask [B, L]: (1 − m) · −10000, shaped [B, 1, 1, L]. */
export function additiveMask(mask: Tensor, fill = -10000): Tensor {
  if (mask.rank !== 2) throw new ShapeError(`additiveMask: expected [B, L], got [${mask.shape.join(",")}]`);
  return tf.tidy(() => {
    const m = tf.cast(mask, "float32");
    return tf.reshape(tf.mul(tf.sub(1, m), fill), [mask.shape[0] as number, 1, 1, mask.shape[1] as number]);
  });
}

/**
 * A symmetric ALiBi bias (Press et al., 2022, without causal masking) [1, h, L, L]:
 * −slope_h · |i − j|, with slopes maxSlope · 2^(−8·h/heads) — the first head
 * looks mostly at its neighbours, the later ones ever wider. Added to the
 * additive key mask, it makes each token's context its own phrase first.
 */
export function alibiBias(heads: number, length: number, maxSlope: number): Tensor {
  const out = new Float32Array(heads * length * length);
  for (let h = 0; h < heads; h++) {
    const slope = maxSlope * 2 ** ((-8 * h) / heads);
    for (let i = 0; i < length; i++) for (let j = 0; j < length; j++) out[(h * length + i) * length + j] = 0 - slope * Math.abs(i - j);
  }
  return tf.tensor4d(out, [1, heads, length, length]);
}

/** [B, N, h·d] → [B, h, N, d]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, n, w] = x.shape as number[];
  if (x.rank !== 3 || w % heads !== 0) {
    throw new ShapeError(`splitHeads: width ${w} of [${x.shape.join(",")}] is not divisible by ${heads} heads`);
  }
  return tf.tidy(() => tf.transpose(tf.reshape(x, [b, n, heads, w / heads]), [0, 2, 1, 3]));
}

/** [B, h, N, d] → [B, N, h·d]. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, n, d] = x.shape as number[];
  return tf.tidy(() => tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, n, h * d]));
}

export interface AttentionResult {
  /** [B, h, Nq, d] */
  context: Tensor;
  /** post-softmax (pre-dropout) probabilities [B, h, Nq, Nk] */
  probs: Tensor;
}

/**
 * softmax(q kᵀ · scale + mask) v on [B, h, N, d] tensors. `mask` is additive and
 * broadcast to [B, h, Nq, Nk]. Both outputs are new tensors owned by the caller.
 * `probe` receives the probabilities and returns what the context is computed from.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { mask?: Tensor; dropout?: Dropout; scale?: number; probe?: (probs: Tensor) => Tensor } = {},
): AttentionResult {
  const d = q.shape[3] as number;
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  const probs = tf.tidy(() => {
    let scores = tf.mul(tf.matMul(q, k, false, true), scale);
    if (opts.mask) scores = tf.add(scores, opts.mask);
    return tf.softmax(scores, -1);
  });
  const context = tf.tidy(() => {
    // a probe sees the probabilities and may stand in for them (Grad-CAM adds a zero tensor to differentiate by)
    const used = opts.probe ? opts.probe(probs) : probs;
    const dropped = opts.dropout ? opts.dropout.forward(used) : used;
    return tf.matMul(dropped, v);
  });
  return { context, probs };
}

export interface MultiHeadAttentionOptions {
  /** Width of keys/values input (cross-attention); defaults to `width`. */
  kvWidth?: number;
  dropout?: Dropout;
}

/**
 * Self- or cross-attention with separate query/key/value projections and an
 * output projection, named `query`, `key`, `value`, `out`.
 */
export class MultiHeadAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly out: Linear;
  private readonly dropout?: Dropout;

  constructor(
    readonly width: number,
    readonly heads: number,
    rng: Rng,
    opts: MultiHeadAttentionOptions = {},
  ) {
    super();
    if (width % heads !== 0) throw new ShapeError(`MultiHeadAttention: width ${width} not divisible by ${heads} heads`);
    const kv = opts.kvWidth ?? width;
    this.query = this.child("query", new Linear(width, width, rng));
    this.key = this.child("key", new Linear(kv, width, rng));
    this.value = this.child("value", new Linear(kv, width, rng));
    this.out = this.child("out", new Linear(width, width, rng));
    this.dropout = opts.dropout;
  }

  /** x [B, Nq, width], context [B, Nk, kvWidth] (defaults to x), keyMask 0/1 [B, Nk]. */
  forward(x: Tensor, context?: Tensor, keyMask?: Tensor): Tensor {
    return tf.tidy(() => {
      const kvIn = context ?? x;
      const q = splitHeads(this.query.forward(x), this.heads);
      const k = splitHeads(this.key.forward(kvIn), this.heads);
      const v = splitHeads(this.value.forward(kvIn), this.heads);
      const mask = keyMask ? additiveMask(keyMask) : undefined;
      const { context: c } = scaledDotProductAttention(q, k, v, { mask, dropout: this.dropout });
      return this.out.forward(mergeHeads(c));
    });
  }
}
