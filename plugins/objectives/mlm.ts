/**
 * ALBEF's masked language modelling on the fused text (MLM): 15 % of the
 * tokens (never [PAD] or [CLS]) masked 80/10/10, predicted from the fusion
 * of the masked text with the image through the text encoder's MLM head;
 * the loss mixes cross-entropy with the momentum model's soft labels:
 *   L_mlm = (1 − α)·CE + α·CE(soft labels).
 * It owns no parameters (the head is the TextEncoder's, tied to its embeddings).
 */
import { crossEntropy, DataError, type Objective, type Rng, softTargetCrossEntropy, type StepContext, tf, type Tensor, z } from "../../core/index.ts";

export const MlmOptions = z.strictObject({
  weight: z.number().min(0).default(1),
  probability: z.number().gt(0).lt(1).default(0.15),
  /**
   * also mask each token that names an object (`data.format.regions`) with this
   * probability, as [MASK]: an object's attribute words masked together ask which
   * colour is the circle's — what neither the bag of words nor exclusion answers
   * (docs/study.md §8); 0 = ALBEF's masking only
   */
  groundedProbability: z.number().min(0).max(1).default(0),
});
export type MlmOptions = z.output<typeof MlmOptions>;

export interface MlmMasking {
  /** ids fed to the MLM pass [B*L] */
  inputIds: Int32Array;
  /** original id at masked positions, −100 elsewhere [B*L] */
  labels: Int32Array;
  /** flat indices b·L + l of the labelled positions, row-major */
  positions: Int32Array;
}

/** Each row's random stream (row = position ÷ L of the row-major [B, L] ids). */
export type RowRngOf = (row: number) => Rng;

/**
 * ALBEF's masking: Bernoulli(p) per position, never [PAD] or [CLS]; of the
 * masked, 80 % → [MASK], 10 % → a random id in [0, vocab), 10 % kept. Row r's
 * draws come from `rows(r)` alone, in position order, so a sample's masks do
 * not depend on the others in its batch or on the padding (ids are [B, L]
 * row-major, `length` = L). `given` replaces the draws (mask, written tokens)
 * for reproducing a run.
 */
export function mlmMask(
  ids: Int32Array,
  length: number,
  special: { pad: number; cls: number; mask: number },
  vocab: number,
  probability: number,
  rows: RowRngOf,
  given?: { mask: Int32Array; replace?: Int32Array },
): MlmMasking {
  const inputIds = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(-100);
  const positions: number[] = [];
  let rng: Rng | null = null;
  for (let i = 0; i < ids.length; i++) {
    if (!given && i % length === 0) rng = rows(i / length);
    const maskable = ids[i] !== special.pad && ids[i] !== special.cls;
    const chosen = given ? given.mask[i] === 1 : (rng as Rng).uniform() < probability;
    if (!chosen || !maskable) continue;
    labels[i] = ids[i];
    positions.push(i);
    if (given) inputIds[i] = given.replace ? given.replace[i] : special.mask;
    else if ((rng as Rng).uniform() < 0.8) inputIds[i] = special.mask;
    else if ((rng as Rng).uniform() < 0.5) inputIds[i] = (rng as Rng).int(vocab);
  }
  return { inputIds, labels, positions: Int32Array.from(positions) };
}

/**
 * `masking` with every grounded position (`grounded[i]` = 1) that is not yet
 * masked also masked, as [MASK], with probability `p` (each row's draws from
 * `rows(r)`, a stream of its own: p = 0 changes nothing); positions stay row-major.
 */
export function maskGrounded(
  masking: MlmMasking,
  ids: Int32Array,
  length: number,
  grounded: Uint8Array,
  p: number,
  maskId: number,
  rows: RowRngOf,
): MlmMasking {
  const inputIds = Int32Array.from(masking.inputIds);
  const labels = Int32Array.from(masking.labels);
  let rng: Rng | null = null;
  for (let i = 0; i < ids.length; i++) {
    if (i % length === 0) rng = rows(i / length);
    if (grounded[i] !== 1 || labels[i] !== -100) continue;
    if ((rng as Rng).uniform() < p) {
      labels[i] = ids[i];
      inputIds[i] = maskId;
    }
  }
  const positions: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== -100) positions.push(i);
  return { inputIds, labels, positions: Int32Array.from(positions) };
}

interface Prepared {
  masking: MlmMasking;
  /**
   * in a data-parallel run, this rank's mean over its masked tokens times this factor is its share
   * of the mean over every rank's (the ranks' gradients are averaged): N · local / all; 1 alone
   */
  share: number;
  /** the masked ids [B, L] */
  ids: Tensor;
  /** the momentum model's probabilities at the masked positions, when any */
  softLabels: Tensor | null;
}

export class MlmObjective implements Objective {
  readonly name = "mlm";
  private step: Prepared | null = null;

  constructor(readonly options: MlmOptions) {}

  get weight(): number {
    return this.options.weight;
  }

  /** Hidden states [P, D] of the masked positions of fused states [B, L, D]. */
  private atPositions(hidden: Tensor, positions: Int32Array): Tensor {
    return tf.tidy(() => {
      const [b, l, d] = hidden.shape as [number, number, number];
      return tf.gather(tf.reshape(hidden, [b * l, d]), tf.tensor1d(positions, "int32"));
    });
  }

  private fused(step: StepContext, ids: Tensor, image: Tensor, momentum: boolean): Tensor {
    const { model, batch } = step;
    return tf.tidy(() => model.fuse(model.encodeText(ids, batch.mask, momentum), batch.mask, image, momentum));
  }

  prepare(step: StepContext): void {
    const { size: b, length: l } = step;
    const fixedMask = step.fixed("mlm_mask");
    const given = fixedMask ? { mask: fixedMask, replace: step.fixed("mlm_replace_ids") } : undefined;
    let masking = mlmMask(step.tokenIds, l, step.special, step.vocabSize, this.options.probability, (r) => step.rowRng(r, "mlm"), given);
    const p = this.options.groundedProbability;
    if (p > 0) {
      const boxes = step.batch.tokenRegions;
      if (!boxes) throw new DataError("mlm groundedProbability: the batches carry no token regions; set data.format.regions (the built-in set: json:objects)");
      const grounded = Uint8Array.from({ length: step.tokenIds.length }, (_, i) => (Number.isNaN(boxes[i * 4]) ? 0 : 1));
      masking = maskGrounded(masking, step.tokenIds, l, grounded, p, step.special.mask, (r) => step.rowRng(r, "mlm-grounded"));
    }
    const ids = step.keep(tf.tensor2d(masking.inputIds, [b, l], "int32"));
    step.record("mlm_input_ids", ids);
    step.record("mlm_labels", { data: Int32Array.from(masking.labels), shape: [b, l] });
    const pos = masking.positions;
    step.record("mlm_positions", { data: Int32Array.from(Array.from(pos).flatMap((p) => [Math.floor(p / l), p % l])), shape: [pos.length, 2] });
    let softLabels: Tensor | null = null;
    if (pos.length > 0) {
      const logitsM = step.model.mlmLogits(this.atPositions(this.fused(step, ids, step.momentumImage(), true), pos), true);
      step.record("mlm_logits_m", logitsM);
      softLabels = step.keep(tf.softmax(logitsM, -1));
    }
    let share = 1;
    if (step.processes > 1) {
      const [all] = step.sumOverRanks([pos.length]);
      share = all > 0 ? (step.processes * pos.length) / all : 0;
    }
    this.step = { masking, ids, softLabels, share };
  }

  loss(step: StepContext): Tensor {
    if (!this.step) throw new Error("the mlm objective has not prepared this step");
    const { masking, ids, softLabels, share } = this.step;
    const hidden = this.fused(step, ids, step.online().imageEmbeds, false);
    step.record("mlm_last_hidden", hidden);
    if (masking.positions.length === 0 || !softLabels) return tf.scalar(0);
    const logits = step.model.mlmLogits(this.atPositions(hidden, masking.positions));
    step.record("mlm_logits", logits);
    const labels = tf.tensor1d(
      Array.from(masking.positions, (p) => masking.labels[p]),
      "int32",
    );
    const ce = crossEntropy(logits, labels);
    const distill = softTargetCrossEntropy(logits, softLabels);
    step.record("loss_mlm_ce", ce);
    step.record("loss_mlm_distill", distill);
    const mixed = tf.add(tf.mul(ce, 1 - step.alpha), tf.mul(distill, step.alpha));
    // a rank's mean over its masked tokens weighs as its share of all ranks' masked tokens
    const loss = share === 1 ? mixed : tf.mul(mixed, share);
    step.record("loss_mlm", loss);
    return loss;
  }

  finish(): void {
    this.step = null;
  }
}
