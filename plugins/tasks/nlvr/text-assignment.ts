/**
 * ALBEF's text-assignment (TA) model (models/model_pretrain_nlvr.py), the
 * stage between pre-training and NLVR2: the NLVR2 model's encoders and
 * paired fusion, the pre-trained ITC image projection (to pick similar
 * images), and `ta_head` (3 classes) on the fused CLS: given a caption and a
 * pair of images, is it of the first, the second, or neither? No momentum
 * copies. Its names are the NLVR2 model's, so NLVR2 fine-tunes from it.
 */
import {
  Linear,
  l2normalize,
  Module,
  type Pooling,
  poolTokens,
  type Rng,
  ShapeError,
  type TextEncoder,
  tf,
  type Tensor,
  uniformFanIn,
  type Variable,
  type VisionEncoder,
} from "../../../core/index.ts";
import { PairedFusion } from "./model.ts";
import type { NlvrParts } from "./model.ts";

/** The three answers: the caption is of image 0, of image 1, or of neither. */
export const TA_CLASSES = 3;

export interface TextAssignmentDraw {
  /** per sample: the images shown as image 0 and image 1, and the label */
  image0: Int32Array;
  image1: Int32Array;
  labels: Int32Array;
}

/** One draw from u ∈ [0, 1) ∝ `weights` over `n` (zeros excluded); −1 when none is positive. */
function drawIndex(weights: Float32Array, u: number, skip = -1): number {
  let sum = 0;
  for (let j = 0; j < weights.length; j++) if (j !== skip && weights[j] > 0) sum += weights[j];
  if (!(sum > 0)) return -1;
  let r = u * sum;
  let last = -1;
  for (let j = 0; j < weights.length; j++) {
    if (j === skip || !(weights[j] > 0)) continue;
    last = j;
    r -= weights[j];
    if (r < 0) return j;
  }
  return last;
}

/**
 * ALBEF's pairs for a batch of B captions, from image-image weights [B, B]
 * (softmax of the similarities, diagonal 0): with probability 2/3 the
 * caption's own image and one drawn ∝ its weights, in random order (label =
 * where the own image is); else two distinct images drawn ∝ its weights
 * (label 2). A batch of fewer than three images cannot show two others.
 */
export function drawTextAssignment(weights: Float32Array, b: number, rng: Rng): TextAssignmentDraw {
  if (b < 3) throw new ShapeError(`text assignment needs batches of at least 3 images (two others per caption); got ${b}`);
  const image0 = new Int32Array(b);
  const image1 = new Int32Array(b);
  const labels = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const row = weights.subarray(i * b, (i + 1) * b);
    const uniform = Float32Array.from(row, (_, j) => (j === i ? 0 : 1));
    const w = row.some((v, j) => j !== i && v > 0) ? row : uniform;
    if (rng.uniform() > 1 / 3) {
      const other = drawIndex(w, rng.uniform());
      if (rng.uniform() > 0.5) [image0[i], image1[i], labels[i]] = [i, other, 0];
      else [image0[i], image1[i], labels[i]] = [other, i, 1];
    } else {
      const first = drawIndex(w, rng.uniform());
      const second = drawIndex(
        Float32Array.from(w, (v, j) => (j === first ? 0 : v)),
        rng.uniform(),
      );
      [image0[i], image1[i], labels[i]] = [first, second < 0 ? drawIndex(uniform, rng.uniform(), first) : second, 2];
    }
  }
  return { image0, image1, labels };
}

export class TextAssignmentModel extends Module {
  readonly visual_encoder: VisionEncoder;
  readonly text_encoder: TextEncoder;
  readonly fusion: PairedFusion;
  readonly vision_proj: Linear;
  readonly ta_head: Linear;

  constructor(
    parts: NlvrParts,
    embedDim: number,
    readonly pooling: Pooling,
    rng: Rng,
  ) {
    super();
    this.visual_encoder = this.child("visual_encoder", parts.vision);
    this.text_encoder = this.child("text_encoder", parts.text);
    this.fusion = this.child("fusion", new PairedFusion(parts.fusion0, parts.fusion1, "fusion"));
    const v = parts.vision.width;
    this.vision_proj = this.child("vision_proj", new Linear(v, embedDim, rng, { weightInit: uniformFanIn(v), biasInit: uniformFanIn(v) }));
    const w = this.fusion.width;
    this.ta_head = this.child("ta_head", new Linear(w, TA_CLASSES, rng, { weightInit: uniformFanIn(w), biasInit: uniformFanIn(w) }));
  }

  *trainable(): Generator<[string, Variable]> {
    yield* this.namedParameters();
  }

  /** ALBEF's TA model has no momentum copies: nothing to copy after loading. */
  copyToMomentum(): void {}

  /** ALBEF's image-image weights [B, B] of image tokens [B, N, width]: softmax(cos / 0.07), diagonal 0 (no gradient). */
  pairWeights(imageEmbeds: Tensor): Float32Array {
    return tf.tidy(() => {
      const b = imageEmbeds.shape[0] as number;
      const feat = l2normalize(this.vision_proj.forward(tf.squeeze(tf.slice(imageEmbeds, [0, 0, 0], [-1, 1, -1]), [1])));
      const w = tf.softmax(tf.div(tf.matMul(feat, feat, false, true), 0.07), -1);
      return tf.mul(w, tf.sub(1, tf.eye(b))).dataSync() as Float32Array;
    });
  }

  /** Class logits [B, 3] of each caption against its drawn pair of the batch's image tokens. */
  logits(imageEmbeds: Tensor, ids: Tensor, mask: Tensor, draw: TextAssignmentDraw): Tensor {
    return tf.tidy(() => {
      const e0 = tf.gather(imageEmbeds, tf.tensor1d(draw.image0, "int32"));
      const e1 = tf.gather(imageEmbeds, tf.tensor1d(draw.image1, "int32"));
      const fused = this.fusion.forward(this.text_encoder.forward(ids, mask), mask, e0, e1);
      return this.ta_head.forward(poolTokens(fused, this.pooling, mask));
    });
  }
}
