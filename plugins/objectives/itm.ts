/**
 * ALBEF's image-text matching loss (ITM): the fused text's pooled row through
 * `itm_head` (2 classes) over B positive pairs and 2B negatives — for each
 * text an image, for each image a text — drawn from the in-batch similarities
 * of the model's embedding head (hard negatives, ALBEF), or uniformly (the
 * paper's "w/o hard negatives" ablation). With image ids a negative is never
 * of the same image. It owns `itm_head` and is the model's matching head.
 */
import {
  crossEntropy,
  DataError,
  Linear,
  type MatchingHead,
  type Objective,
  type ObjectiveBuilder,
  poolTokens,
  type Rng,
  type StepContext,
  tf,
  type Tensor,
  uniformFanIn,
  z,
} from "../../core/index.ts";

export const ItmOptions = z.strictObject({
  weight: z.number().min(0).default(1),
  /** `hard`: negatives drawn ∝ the embedding head's similarities (ALBEF); `random`: uniform (the paper's "w/o hard negatives" ablation) */
  negatives: z.enum(["hard", "random"]).default("hard"),
  /**
   * with hard negatives: draw them uniformly for the first this many optimizer
   * steps (a random → hard curriculum: the fusion learns coarse matching before
   * the near-duplicates a trained ITC proposes); 0 = hard from the start (ALBEF)
   */
  randomSteps: z.number().int().nonnegative().default(0),
  /**
   * also score each image against its sample's text negative (`data.format.negatives`,
   * e.g. the built-in set's binding negatives: the same words, a wrong binding) as a
   * non-match — NegCLIP's remedy for bag-of-words matching; false = ALBEF
   */
  textNegatives: z.boolean().default(false),
  /** fused text → the head's input: ALBEF's CLS row, or the mean of the valid tokens (for a model whose ITC pools text by the mean) */
  pooling: z.enum(["cls", "mean"]).default("cls"),
});
export type ItmOptions = z.output<typeof ItmOptions>;

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

export class ItmObjective implements Objective, MatchingHead {
  readonly name = "itm";
  private head: Linear | null = null;

  constructor(readonly options: ItmOptions) {}

  get weight(): number {
    return this.options.weight;
  }
  get matching(): MatchingHead {
    return this;
  }

  build(b: ObjectiveBuilder): void {
    const f = b.widths.fusion;
    this.head = b.module("itm_head", (rng: Rng) => new Linear(f, 2, rng, { weightInit: uniformFanIn(f), biasInit: uniformFanIn(f) }));
  }

  private itmHead(): Linear {
    if (!this.head) throw new Error("the itm objective is not part of a model yet (build it into a VisionLanguageModel)");
    return this.head;
  }

  private pooled(fused: Tensor, mask: Tensor): Tensor {
    return poolTokens(fused, this.options.pooling, mask);
  }

  matchLogits(fused: Tensor, mask: Tensor): Tensor {
    return tf.tidy(() => this.itmHead().forward(this.pooled(fused, mask)));
  }

  loss(step: StepContext): Tensor {
    const { model, batch, size: b, rng } = step;
    const head = this.itmHead();
    const o = step.online();
    const ids = batch.imageIds;
    // hard negatives are drawn ∝ the embedding head's in-batch similarities; random ones need none
    let weights: { i2t: Tensor; t2i: Tensor } | null = null;
    if (this.options.negatives === "hard" && step.step >= this.options.randomSteps) {
      const s = step.similarities();
      weights = { i2t: itmNegativeWeights(s.i2t, b, ids), t2i: itmNegativeWeights(s.t2i, b, ids) };
      step.record("itm_weights_i2t", weights.i2t);
      step.record("itm_weights_t2i", weights.t2i);
    }
    const draw = (w: Tensor | undefined) => sampleNegatives(w ? (w.dataSync() as Float32Array) : new Float32Array(b * b), b, rng, ids);
    const negImage = step.fixed("neg_image_idx") ?? draw(weights?.t2i);
    const negText = step.fixed("neg_text_idx") ?? draw(weights?.i2t);
    step.record("neg_image_idx", { data: negImage, shape: [b] });
    step.record("neg_text_idx", { data: negText, shape: [b] });
    const pos = model.fuse(o.textEmbeds, batch.mask, o.imageEmbeds);
    step.record("fusion_pos_last_hidden", pos);
    const posCls = this.pooled(pos, batch.mask);
    step.record("fusion_pos_cls", posCls);
    if (negImage.some((i) => i < 0) || negText.some((i) => i < 0)) {
      // a batch of one (or of one image only) has no negatives: only the positive pairs are scored
      return crossEntropy(head.forward(posCls), tf.ones([b], "int32"));
    }
    const ni = tf.tensor1d(negImage, "int32");
    const nt = tf.tensor1d(negText, "int32");
    const textAll = tf.concat([o.textEmbeds, tf.gather(o.textEmbeds, nt)], 0);
    const maskAll = tf.concat([batch.mask, tf.gather(batch.mask, nt)], 0);
    const imageAll = tf.concat([tf.gather(o.imageEmbeds, ni), o.imageEmbeds], 0);
    const neg = model.fuse(textAll, maskAll, imageAll);
    step.record("fusion_neg_last_hidden", neg);
    const negCls = this.pooled(neg, maskAll);
    step.record("fusion_neg_cls", negCls);
    const pooled = [posCls, negCls];
    const tn = this.options.textNegatives ? batch.textNegatives : undefined;
    if (this.options.textNegatives && !tn)
      throw new DataError("itm textNegatives: the batches carry no text negatives; set data.format.negatives (e.g. json:negatives)");
    if (tn && tn.rows.length > 0) {
      const text = model.encodeText(tn.ids, tn.mask);
      const image = tf.gather(o.imageEmbeds, tf.tensor1d(tn.rows, "int32"));
      pooled.push(this.pooled(model.fuse(text, tn.mask, image), tn.mask));
    }
    const logits = head.forward(tf.concat(pooled, 0));
    const negatives = 2 * b + (tn?.rows.length ?? 0);
    const labels = tf.concat([tf.ones([b], "int32"), tf.zeros([negatives], "int32")]);
    step.record("itm_logits", logits);
    step.record("itm_labels", labels);
    const loss = crossEntropy(logits, labels);
    step.record("loss_itm", loss);
    return loss;
  }
}
