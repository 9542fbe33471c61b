/**
 * One ALBEF pre-training step, split the way the gradient tape needs it:
 * `prepare()` runs everything without gradient (temperature clamp, momentum
 * update, momentum features and similarities, ITC targets, MLM masking and
 * the momentum model's soft labels); inside the taped function objectives
 * call `itcLoss()`, `itmLoss()`, `mlmLoss()` (or build their own loss from
 * the cached online tensors); `finish()` enqueues the momentum features.
 * `record` receives every intermediate under the names of ALBEF's reference
 * fixture, for checking against other implementations.
 */
import { tf, type Tensor } from "../tensor/tf.ts";
import type { Rng } from "../tensor/rng.ts";
import type { SpecialTokenIds } from "../registry/kinds.ts";
import { crossEntropy, idTargets, itcTargets, itmNegativeWeights, mlmMask, type MlmMasking, sampleNegatives, softTargetCrossEntropy } from "./albef-math.ts";
import { poolTokens, type PretrainModel } from "./pretrain-model.ts";

export interface StepBatch {
  /** [B, 3, H, W] */
  images: Tensor;
  /** [B, L] int32 */
  ids: Tensor;
  /** [B, L] int32 */
  mask: Tensor;
}

export interface StepOverrides {
  mlmMask?: Int32Array;
  mlmReplace?: Int32Array;
  negImageIdx?: Int32Array;
  negTextIdx?: Int32Array;
}

export interface IntArray {
  data: Int32Array;
  shape: number[];
}

export type StepRecorder = (name: string, value: Tensor | IntArray | number) => void;

export interface StepOptions {
  alpha: number;
  rng: Rng;
  special: SpecialTokenIds;
  vocabSize: number;
  mlmProbability: number;
  /** which parts to prepare */
  needs: { itc: boolean; itm: boolean; mlm: boolean };
  overrides?: StepOverrides;
  record?: StepRecorder;
  /**
   * Image id of each sample (fine-tuning, ALBEF's Retrieval.py): ITC positives
   * are every batch or queued column of the same image, ITM never draws a
   * same-image negative, and the ids are queued beside the features (the model
   * needs `idQueue`). Without ids, sample b's only positive is column b.
   */
  imageIds?: Int32Array;
  /** clamp the temperature to [0.001, 0.5] first (default true; ALBEF's fine-tuning does not) */
  clampTemp?: boolean;
}

interface Online {
  imageEmbeds: Tensor;
  textEmbeds: Tensor;
  imageFeat: Tensor;
  textFeat: Tensor;
  simI2T?: Tensor;
  simT2I?: Tensor;
}

export class PretrainStep {
  readonly b: number;
  readonly l: number;
  private readonly kept: Tensor[] = [];
  private imageEmbedsM?: Tensor;
  private imageFeatM?: Tensor;
  private textFeatM?: Tensor;
  private textBank?: Tensor;
  private imageBank?: Tensor;
  private targetsI2T?: Tensor;
  private targetsT2I?: Tensor;
  private masking?: MlmMasking;
  private mlmIds?: Tensor;
  private softLabels?: Tensor;
  private online: Online | null = null;
  private readonly ids: Int32Array;

  constructor(
    readonly model: PretrainModel,
    readonly batch: StepBatch,
    readonly opts: StepOptions,
  ) {
    [this.b, this.l] = batch.ids.shape as [number, number];
    this.ids = batch.ids.dataSync() as Int32Array;
  }

  private keep<T extends Tensor>(t: T): T {
    this.kept.push(tf.keep(t));
    return t;
  }

  private rec(name: string, value: Tensor | IntArray | number): void {
    this.opts.record?.(name, value);
  }

  /** Everything without gradient; call before the taped function. */
  prepare(): void {
    const { model, batch, opts } = this;
    const { needs } = opts;
    if (opts.imageIds && model.opts.queueSize > 0 && !model.idx_queue) {
      throw new Error("PretrainStep: image ids with a feature queue need the model's id queue (PretrainModelOptions.idQueue)");
    }
    if (opts.imageIds && opts.imageIds.length !== this.b) throw new Error(`PretrainStep: ${opts.imageIds.length} image ids for a batch of ${this.b}`);
    if (opts.clampTemp !== false) model.clampTemp();
    model.momentumUpdate();
    this.rec("temp", model.temp);
    this.rec("alpha", opts.alpha);
    tf.tidy(() => {
      if (needs.itc || needs.itm || needs.mlm) this.imageEmbedsM = this.keep(model.encodeImage(batch.images, true));
      if (needs.itc || needs.itm) {
        const textEmbedsM = model.encodeText(batch.ids, batch.mask, true);
        this.imageFeatM = this.keep(model.imageFeat(this.imageEmbedsM!, true));
        this.textFeatM = this.keep(model.textFeat(textEmbedsM, true, batch.mask));
        this.rec("image_embeds_m", this.imageEmbedsM!);
        this.rec("text_embeds_m", textEmbedsM);
        this.rec("image_feat_m", this.imageFeatM);
        this.rec("text_feat_m", this.textFeatM);
        this.rec("image_queue_before", model.image_queue);
        this.rec("text_queue_before", model.text_queue);
        this.rec("queue_ptr_before", model.queue_ptr);
        this.textBank = this.keep(tf.concat([tf.transpose(this.textFeatM), model.text_queue], 1));
        this.imageBank = this.keep(tf.concat([tf.transpose(this.imageFeatM), model.image_queue], 1));
        const simI2TM = tf.div(tf.matMul(this.imageFeatM, this.textBank), model.temp);
        const simT2IM = tf.div(tf.matMul(this.textFeatM, this.imageBank), model.temp);
        this.rec("sim_i2t_m", simI2TM);
        this.rec("sim_t2i_m", simT2IM);
        const truth = opts.imageIds ? idTargets(opts.imageIds, Int32Array.from([...opts.imageIds, ...model.queuedIds()])) : undefined;
        this.targetsI2T = this.keep(itcTargets(simI2TM, opts.alpha, truth));
        this.targetsT2I = this.keep(itcTargets(simT2IM, opts.alpha, truth));
        this.rec("sim_i2t_targets", this.targetsI2T);
        this.rec("sim_t2i_targets", this.targetsT2I);
      }
      if (needs.mlm) {
        const given = opts.overrides?.mlmMask ? { mask: opts.overrides.mlmMask, replace: opts.overrides.mlmReplace } : undefined;
        this.masking = mlmMask(this.ids, opts.special, opts.vocabSize, opts.mlmProbability, opts.rng, given);
        this.mlmIds = this.keep(tf.tensor2d(this.masking.inputIds, [this.b, this.l], "int32"));
        this.rec("mlm_input_ids", this.mlmIds);
        this.rec("mlm_labels", { data: Int32Array.from(this.masking.labels), shape: [this.b, this.l] });
        const pos = this.masking.positions;
        this.rec("mlm_positions", { data: Int32Array.from(Array.from(pos).flatMap((p) => [Math.floor(p / this.l), p % this.l])), shape: [pos.length, 2] });
        if (pos.length > 0) {
          const hiddenM = this.fusedHidden(this.mlmIds, this.imageEmbedsM!, true);
          const logitsM = model.mlmLogits(this.atPositions(hiddenM), true);
          this.rec("mlm_logits_m", logitsM);
          this.softLabels = this.keep(tf.softmax(logitsM, -1));
        }
      }
    });
  }

  private fusedHidden(ids: Tensor, imageEmbeds: Tensor, momentum: boolean): Tensor {
    return tf.tidy(() => this.model.fuse(this.model.encodeText(ids, this.batch.mask, momentum), this.batch.mask, imageEmbeds, momentum));
  }

  private atPositions(hidden: Tensor): Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(hidden, [this.b * this.l, hidden.shape[2] as number]);
      return tf.gather(flat, tf.tensor1d(this.masking!.positions, "int32"));
    });
  }

  /** Online unimodal encodings (computed once per taped pass). */
  encodings(): Online {
    if (this.online) return this.online;
    const { model, batch } = this;
    const imageEmbeds = model.encodeImage(batch.images);
    const textEmbeds = model.encodeText(batch.ids, batch.mask);
    this.online = { imageEmbeds, textEmbeds, imageFeat: model.imageFeat(imageEmbeds), textFeat: model.textFeat(textEmbeds, false, batch.mask) };
    this.rec("image_embeds", imageEmbeds);
    this.rec("text_embeds", textEmbeds);
    this.rec("image_feat", this.online.imageFeat);
    this.rec("text_feat", this.online.textFeat);
    return this.online;
  }

  private sims(): { i2t: Tensor; t2i: Tensor } {
    const o = this.encodings();
    if (!o.simI2T || !o.simT2I) {
      if (!this.textBank || !this.imageBank) throw new Error("PretrainStep: prepare() with needs.itc or needs.itm first");
      o.simI2T = tf.div(tf.matMul(o.imageFeat, this.textBank), this.model.temp);
      o.simT2I = tf.div(tf.matMul(o.textFeat, this.imageBank), this.model.temp);
      this.rec("sim_i2t", o.simI2T);
      this.rec("sim_t2i", o.simT2I);
    }
    return { i2t: o.simI2T, t2i: o.simT2I };
  }

  /** L_itc = (L_i2t + L_t2i) / 2 against the momentum-distilled targets. */
  itcLoss(): Tensor {
    const s = this.sims();
    const i2t = softTargetCrossEntropy(s.i2t, this.targetsI2T!);
    const t2i = softTargetCrossEntropy(s.t2i, this.targetsT2I!);
    this.rec("loss_i2t", i2t);
    this.rec("loss_t2i", t2i);
    const loss = tf.div(tf.add(i2t, t2i), 2);
    this.rec("loss_ita", loss);
    return loss;
  }

  /**
   * ITM over B positives and 2B negatives: hard negatives drawn from the
   * in-batch ITC similarities (ALBEF), or — `random`, the paper's ablation
   * without hard negatives — drawn uniformly (never the sample itself or,
   * with image ids, the same image).
   */
  itmLoss(negatives: "hard" | "random" = "hard"): Tensor {
    const { model, batch, b, opts } = this;
    const o = this.encodings();
    const s = this.sims();
    const wI2T = itmNegativeWeights(s.i2t, b, opts.imageIds);
    const wT2I = itmNegativeWeights(s.t2i, b, opts.imageIds);
    this.rec("itm_weights_i2t", wI2T);
    this.rec("itm_weights_t2i", wT2I);
    const draw = (w: Tensor) => sampleNegatives(negatives === "hard" ? (w.dataSync() as Float32Array) : new Float32Array(b * b), b, opts.rng, opts.imageIds);
    const negImage = opts.overrides?.negImageIdx ?? draw(wT2I);
    const negText = opts.overrides?.negTextIdx ?? draw(wI2T);
    this.rec("neg_image_idx", { data: negImage, shape: [b] });
    this.rec("neg_text_idx", { data: negText, shape: [b] });
    const pos = model.fuse(o.textEmbeds, batch.mask, o.imageEmbeds);
    this.rec("fusion_pos_last_hidden", pos);
    const cls = (h: Tensor, m: Tensor) => poolTokens(h, model.pooling.text, m);
    const posCls = cls(pos, batch.mask);
    this.rec("fusion_pos_cls", posCls);
    if (negImage.some((i) => i < 0) || negText.some((i) => i < 0)) {
      // a batch of one (or of one image only) has no negatives: only the positive pairs are scored
      return crossEntropy(model.itm_head.forward(posCls), tf.ones([b], "int32"));
    }
    const ni = tf.tensor1d(negImage, "int32");
    const nt = tf.tensor1d(negText, "int32");
    const textAll = tf.concat([o.textEmbeds, tf.gather(o.textEmbeds, nt)], 0);
    const maskAll = tf.concat([batch.mask, tf.gather(batch.mask, nt)], 0);
    const imageAll = tf.concat([tf.gather(o.imageEmbeds, ni), o.imageEmbeds], 0);
    const neg = model.fuse(textAll, maskAll, imageAll);
    this.rec("fusion_neg_last_hidden", neg);
    const negCls = cls(neg, maskAll);
    this.rec("fusion_neg_cls", negCls);
    const logits = model.itm_head.forward(tf.concat([posCls, negCls], 0));
    const labels = tf.concat([tf.ones([b], "int32"), tf.zeros([2 * b], "int32")]);
    this.rec("itm_logits", logits);
    this.rec("itm_labels", labels);
    const loss = crossEntropy(logits, labels);
    this.rec("loss_itm", loss);
    return loss;
  }

  /** L_mlm = (1 − α)·CE + α·distill over the masked positions. */
  mlmLoss(): Tensor {
    const { model, opts } = this;
    const o = this.encodings();
    if (!this.masking || !this.mlmIds) throw new Error("PretrainStep: prepare() with needs.mlm first");
    const hidden = this.fusedHidden(this.mlmIds, o.imageEmbeds, false);
    this.rec("mlm_last_hidden", hidden);
    if (this.masking.positions.length === 0) return tf.scalar(0);
    const logits = model.mlmLogits(this.atPositions(hidden));
    this.rec("mlm_logits", logits);
    const labels = tf.tensor1d(Array.from(this.masking.positions, (p) => this.masking!.labels[p]), "int32");
    const ce = crossEntropy(logits, labels);
    const distill = softTargetCrossEntropy(logits, this.softLabels!);
    this.rec("loss_mlm_ce", ce);
    this.rec("loss_mlm_distill", distill);
    const loss = tf.add(tf.mul(ce, 1 - opts.alpha), tf.mul(distill, opts.alpha));
    this.rec("loss_mlm", loss);
    return loss;
  }

  /** End of the taped pass: forget the online tensors (the tape owns them). */
  endPass(): void {
    this.online = null;
  }

  /** After the optimiser step: enqueue the momentum features and free what prepare() kept. */
  finish(): void {
    if (this.imageFeatM && this.textFeatM) {
      this.model.enqueue(this.imageFeatM, this.textFeatM, this.opts.imageIds);
      this.rec("image_queue_after", this.model.image_queue);
      this.rec("text_queue_after", this.model.text_queue);
      this.rec("queue_ptr_after", this.model.queue_ptr);
    }
    tf.dispose(this.kept);
    this.kept.length = 0;
  }
}
