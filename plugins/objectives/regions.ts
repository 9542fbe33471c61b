/**
 * Word-region grounding (not in ALBEF): each caption token that names an
 * object (`data.format.regions`) is asked to put its text → image attention
 * on that object's patches. In every supervised fusion layer, with A the
 * attention averaged over heads and S(t) the patches token t's box covers,
 *   L = mean over grounded tokens and layers of −log Σ_{p ∈ S(t)} A[t, p].
 * The sentence-level losses (ITC, ITM) say whether a caption fits an image;
 * this says where each of its words is — the signal a fusion needs to tie an
 * attribute to its object rather than to the scene (docs/study.md §8). It
 * owns no parameters.
 */
import { DataError, type Objective, ShapeError, type StepContext, tf, type Tensor, z } from "../../core/index.ts";

export const RegionsOptions = z.strictObject({
  weight: z.number().min(0).default(1),
  /** 0-based fusion layers whose attention is supervised; null = all */
  layers: z.array(z.number().int().nonnegative()).min(1).nullable().default(null),
  /** a patch is in a token's region when the box covers at least this share of it (else the patch it covers most) */
  minOverlap: z.number().gt(0).max(1).default(0.1),
  /**
   * in this objective's pass, each grounded token becomes [MASK] with this
   * probability: it must then find its object from its phrase — the words
   * around it and their order — not from its own word (docs/study.md §8)
   */
  maskProbability: z.number().min(0).max(1).default(0),
});
export type RegionsOptions = z.output<typeof RegionsOptions>;

/**
 * Targets over the image tokens [CLS; grid × grid patches, row-major] from
 * token boxes [B·L·4] (unit square, NaN = none): `targets` [B·L·(1 + grid²)]
 * 0/1 and `grounded` [B·L] 0/1.
 */
export function regionTargets(boxes: Float32Array, tokens: number, grid: number, minOverlap: number): { targets: Float32Array; grounded: Float32Array } {
  const n = 1 + grid * grid;
  const targets = new Float32Array(tokens * n);
  const grounded = new Float32Array(tokens);
  const cell = 1 / grid;
  for (let t = 0; t < tokens; t++) {
    const [x0, y0, x1, y1] = boxes.subarray(t * 4, t * 4 + 4);
    if (!(x1 > x0 && y1 > y0)) continue;
    let best = -1;
    let bestCover = 0;
    let covered = false;
    for (let r = 0; r < grid; r++) {
      for (let c = 0; c < grid; c++) {
        const w = Math.min(x1, (c + 1) * cell) - Math.max(x0, c * cell);
        const h = Math.min(y1, (r + 1) * cell) - Math.max(y0, r * cell);
        const cover = w > 0 && h > 0 ? (w * h) / (cell * cell) : 0;
        const p = 1 + r * grid + c;
        if (cover >= minOverlap) {
          targets[t * n + p] = 1;
          covered = true;
        }
        if (cover > bestCover) [best, bestCover] = [p, cover];
      }
    }
    if (!covered && best > 0) targets[t * n + best] = 1;
    grounded[t] = covered || best > 0 ? 1 : 0;
  }
  return { targets, grounded };
}

export class RegionsObjective implements Objective {
  readonly name = "regions";

  constructor(readonly options: RegionsOptions) {}

  get weight(): number {
    return this.options.weight;
  }

  private layers(depth: number): number[] {
    const layers = this.options.layers ?? Array.from({ length: depth }, (_, i) => i);
    const bad = layers.find((l) => l >= depth);
    if (bad !== undefined) throw new ShapeError(`objectives.regions.layers: fusion layer ${bad} does not exist (0..${depth - 1})`);
    return layers;
  }

  /** The text features with each grounded token masked with `maskProbability` (the step's random stream). */
  private maskedText(step: StepContext, grounded: Float32Array): Tensor {
    const ids = Int32Array.from(step.tokenIds);
    for (let i = 0; i < ids.length; i++) if (grounded[i] === 1 && step.rng.uniform() < this.options.maskProbability) ids[i] = step.special.mask;
    return step.model.encodeText(tf.tensor2d(ids, [step.size, step.length], "int32"), step.batch.mask);
  }

  loss(step: StepContext): Tensor {
    const { model, batch, size: b, length: l } = step;
    const boxes = batch.tokenRegions;
    if (!boxes) throw new DataError("the regions objective: the batches carry no token regions; set data.format.regions (the built-in set: json:objects)");
    const o = step.online();
    const nImage = o.imageEmbeds.shape[1] as number;
    const grid = Math.round(Math.sqrt(nImage - 1));
    if (grid * grid !== nImage - 1) throw new ShapeError(`the regions objective needs a square patch grid after the CLS token; got ${nImage - 1} image tokens`);
    const { targets, grounded } = regionTargets(boxes, b * l, grid, this.options.minOverlap);
    const count = grounded.reduce((a, v) => a + v, 0);
    if (count === 0) return tf.scalar(0);
    const sites = this.layers(model.fusionDepth).map((i) => model.fusionAttention(i));
    const text = this.options.maskProbability > 0 ? this.maskedText(step, grounded) : o.textEmbeds;
    // the fusion's forward frees its intermediates: the probe keeps the maps until the terms are built (the tape holds what backprop needs)
    const seen: Tensor[] = [];
    for (const s of sites) {
      s.attention.probe = (p) => {
        seen.push(tf.keep(p));
        return p;
      };
    }
    try {
      model.fuse(text, batch.mask, o.imageEmbeds);
      if (seen.length !== sites.length) throw new ShapeError(`the regions objective saw ${seen.length} attention maps from ${sites.length} layers`);
      const target = tf.tensor3d(targets, [b, l, nImage]);
      const weight = tf.tensor2d(grounded, [b, l]);
      const terms = seen.map((probs, k) => {
        const rows = sites[k].layout === "cross" ? probs : tf.slice(probs, [0, 0, nImage, 0], [-1, -1, l, nImage]);
        const mass = tf.sum(tf.mul(tf.mean(rows, 1), target), -1); // [B, L]
        return tf.div(tf.sum(tf.mul(tf.neg(tf.log(tf.add(mass, 1e-6))), weight)), count);
      });
      const loss = tf.div(tf.addN(terms), terms.length);
      step.record("loss_regions", loss);
      return loss;
    } finally {
      for (const s of sites) s.attention.probe = null;
      tf.dispose(seen);
    }
  }
}
