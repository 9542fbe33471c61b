/**
 * ALBEF's image-text contrastive loss (ITC, models/model_pretrain.py): the
 * CLS rows (or mean-pooled tokens) projected to `embedDim` and normalised,
 * similarities over the batch and a queue of momentum features, divided by a
 * learnable temperature, against momentum-distilled targets:
 *   L_itc = ½ (CE(s_i2t, α·softmax(s_m_i2t) + (1 − α)·y) + CE(s_t2i, …)).
 * It owns `vision_proj`, `text_proj` (each with a momentum copy), `temp` and
 * the feature queues (`image_queue`, `text_queue`, `queue_ptr`, and with image
 * ids `idx_queue`). Its `momentum` and `alpha` set the whole model's (ALBEF
 * keeps them beside this loss). Fine-tuning with image ids (Retrieval.py):
 * every batch or queued column of the same image is a positive.
 */
import {
  ConfigError,
  constant,
  DataError,
  type EmbeddingHead,
  l2normalize,
  Linear,
  type ObjectiveBuilder,
  type Objective,
  type ObjectiveSetting,
  poolTokens,
  type Rng,
  softTargetCrossEntropy,
  type StepContext,
  tf,
  type Tensor,
  uniformFanIn,
  type Variable,
  z,
} from "../../core/index.ts";

export const ItcOptions = z.strictObject({
  weight: z.number().min(0).default(1),
  /** feature queue length (a multiple of the batch size; 0 = in-batch negatives only) */
  queue: z.number().int().min(0).default(65536),
  /** EMA factor of the momentum model */
  momentum: z.number().min(0).max(1).default(0.995),
  /** momentum-distillation weight α of the model's objectives (ramped up over the first epoch) */
  alpha: z.number().min(0).max(1).default(0.4),
  /** initial temperature (learnable) */
  temp: z.number().min(0.001).max(0.5).default(0.07),
  /** clamp the temperature to [0.001, 0.5] each step; default: in pre-training, not when fine-tuning with image ids (ALBEF's retrieval model does not) */
  clampTemp: z.boolean().optional(),
  /** projection width of the contrastive features */
  embedDim: z.number().int().positive().default(256),
  /**
   * sequence → vector: ALBEF's CLS rows (default), or the mean of the valid
   * tokens, which trains from scratch much faster (see the demo config)
   */
  pooling: z
    .strictObject({ image: z.enum(["cls", "mean"]).default("cls"), text: z.enum(["cls", "mean"]).default("cls") })
    .default({ image: "cls", text: "cls" }),
  /**
   * also ask each image to prefer its caption to its sample's text negative
   * (`data.format.negatives`: the same words, a wrong binding): −log softmax over
   * the two similarities, averaged over the rows that have one and added to the
   * loss — NegCLIP's hard text negatives, as a pair; false = ALBEF
   */
  textNegatives: z.boolean().default(false),
});
export type ItcOptions = z.output<typeof ItcOptions>;

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

/** PyTorch's default nn.Linear initialisation, as ALBEF's projections have it. */
function pytorchLinear(inF: number, outF: number, rng: Rng): Linear {
  return new Linear(inF, outF, rng, { weightInit: uniformFanIn(inF), biasInit: uniformFanIn(inF) });
}

interface Queues {
  image: Variable;
  text: Variable;
  ptr: Variable;
  /** image ids of the queued features (−100 = none), with image ids only */
  ids: Variable | null;
}

/** What prepare leaves for the loss: the feature banks (batch + queue) and the distilled targets. */
interface Prepared {
  imageFeatM: Tensor;
  textFeatM: Tensor;
  textBank: Tensor;
  imageBank: Tensor;
  targetsI2T: Tensor;
  targetsT2I: Tensor;
}

export class ItcObjective implements Objective, EmbeddingHead {
  readonly name = "itc";
  private visionProj: Linear | null = null;
  private textProj: Linear | null = null;
  private temp: Variable | null = null;
  private queues: Queues | null = null;
  /** momentum features of this optimizer step's earlier micro-batches, enqueued with the last */
  private readonly pendingQueue: { image: Tensor; text: Tensor; ids: Int32Array | null }[] = [];
  private setting: ObjectiveSetting | null = null;
  private step: Prepared | null = null;

  constructor(readonly options: ItcOptions) {}

  get weight(): number {
    return this.options.weight;
  }
  get distillation(): { momentum: number; alpha: number } {
    return { momentum: this.options.momentum, alpha: this.options.alpha };
  }
  get embedding(): EmbeddingHead {
    return this;
  }
  get dim(): number {
    return this.options.embedDim;
  }

  build(b: ObjectiveBuilder): void {
    const { embedDim: d, queue: q } = this.options;
    const { batchSize } = b.setting;
    if (q > 0 && q % batchSize !== 0) throw new ConfigError(`the ITC queue (${q}) must be a multiple of data.batchSize (${batchSize})`, "objectives.itc.queue");
    this.setting = b.setting;
    this.visionProj = b.module("vision_proj", (rng) => pytorchLinear(b.widths.vision, d, rng), { momentum: true });
    this.textProj = b.module("text_proj", (rng) => pytorchLinear(b.widths.text, d, rng), { momentum: true });
    this.temp = b.parameter("temp", [], constant(this.options.temp));
    // random unit columns (each a feature vector of embedDim), as ALBEF initialises its queues
    const unitColumns = (rng: Rng) => tf.tidy(() => tf.transpose(l2normalize(tf.randomNormal([q, d], 0, 1, "float32", rng.nextSeed()))));
    this.queues = {
      image: b.buffer("image_queue", [d, q], "float32", q > 0 ? unitColumns : undefined),
      text: b.buffer("text_queue", [d, q], "float32", q > 0 ? unitColumns : undefined),
      ptr: b.buffer("queue_ptr", [1], "int32"),
      ids: b.setting.imageIds ? b.buffer("idx_queue", [1, q], "int32", () => tf.fill([1, q], -100, "int32")) : null,
    };
  }

  private parts(): { visionProj: Linear; textProj: Linear; temp: Variable; queues: Queues } {
    if (!this.visionProj || !this.textProj || !this.temp || !this.queues)
      throw new Error("the itc objective is not part of a model yet (build it into a VisionLanguageModel)");
    return { visionProj: this.visionProj, textProj: this.textProj, temp: this.temp, queues: this.queues };
  }

  imageFeatures(imageEmbeds: Tensor, proj: Linear = this.parts().visionProj): Tensor {
    return tf.tidy(() => l2normalize(proj.forward(poolTokens(imageEmbeds, this.options.pooling.image))));
  }

  textFeatures(textEmbeds: Tensor, mask: Tensor, proj: Linear = this.parts().textProj): Tensor {
    return tf.tidy(() => l2normalize(proj.forward(poolTokens(textEmbeds, this.options.pooling.text, mask))));
  }

  scaleSimilarity(cosine: Tensor): Tensor {
    return tf.div(cosine, this.parts().temp);
  }

  /** The image ids of the queued features, in queue order (empty without image ids). */
  private queuedIds(): Int32Array {
    const ids = this.parts().queues.ids;
    return ids ? (ids.dataSync() as Int32Array) : new Int32Array(0);
  }

  prepare(step: StepContext): void {
    const { visionProj, textProj, temp, queues } = this.parts();
    const { model, batch } = step;
    const clamp = this.options.clampTemp ?? !this.setting?.imageIds;
    if (clamp) tf.tidy(() => temp.assign(tf.clipByValue(temp, 0.001, 0.5)));
    step.record("temp", temp);
    if (batch.imageIds && !queues.ids && this.options.queue > 0)
      throw new Error("the itc objective got image ids, but its model was built without them (ObjectiveSetting.imageIds)");
    const imageFeatM = step.keep(this.imageFeatures(step.momentumImage(), model.momentumOf(visionProj)));
    const textFeatM = step.keep(this.textFeatures(step.momentumText(), batch.mask, model.momentumOf(textProj)));
    step.record("image_feat_m", imageFeatM);
    step.record("text_feat_m", textFeatM);
    step.record("image_queue_before", queues.image);
    step.record("text_queue_before", queues.text);
    step.record("queue_ptr_before", queues.ptr);
    const textBank = step.keep(tf.concat([tf.transpose(textFeatM), queues.text], 1));
    const imageBank = step.keep(tf.concat([tf.transpose(imageFeatM), queues.image], 1));
    const simI2TM = tf.div(tf.matMul(imageFeatM, textBank), temp);
    const simT2IM = tf.div(tf.matMul(textFeatM, imageBank), temp);
    step.record("sim_i2t_m", simI2TM);
    step.record("sim_t2i_m", simT2IM);
    const ids = batch.imageIds;
    const truth = ids ? idTargets(ids, Int32Array.from([...ids, ...this.queuedIds()])) : undefined;
    const targetsI2T = step.keep(itcTargets(simI2TM, step.alpha, truth));
    const targetsT2I = step.keep(itcTargets(simT2IM, step.alpha, truth));
    step.record("sim_i2t_targets", targetsI2T);
    step.record("sim_t2i_targets", targetsT2I);
    this.step = { imageFeatM, textFeatM, textBank, imageBank, targetsI2T, targetsT2I };
  }

  private prepared(): Prepared {
    if (!this.step) throw new Error("the itc objective has not prepared this step");
    return this.step;
  }

  /** Similarity logits of the online features against the banks [B, B + Q]. */
  similarities(step: StepContext): { i2t: Tensor; t2i: Tensor } {
    const { temp } = this.parts();
    const p = this.prepared();
    const { imageEmbeds, textEmbeds } = step.online();
    const imageFeat = this.imageFeatures(imageEmbeds);
    const textFeat = this.textFeatures(textEmbeds, step.batch.mask);
    step.record("image_feat", imageFeat);
    step.record("text_feat", textFeat);
    const i2t = tf.div(tf.matMul(imageFeat, p.textBank), temp);
    const t2i = tf.div(tf.matMul(textFeat, p.imageBank), temp);
    step.record("sim_i2t", i2t);
    step.record("sim_t2i", t2i);
    return { i2t, t2i };
  }

  loss(step: StepContext): Tensor {
    const p = this.prepared();
    const s = step.similarities();
    const i2t = softTargetCrossEntropy(s.i2t, p.targetsI2T);
    const t2i = softTargetCrossEntropy(s.t2i, p.targetsT2I);
    step.record("loss_i2t", i2t);
    step.record("loss_t2i", t2i);
    const loss = tf.div(tf.add(i2t, t2i), 2);
    step.record("loss_ita", loss);
    if (!this.options.textNegatives) return loss;
    const negative = this.textNegativeLoss(step);
    return negative ? tf.add(loss, negative) : loss;
  }

  /** −log of the caption's share against its text negative, per image that has one (mean), or null when none has. */
  private textNegativeLoss(step: StepContext): Tensor | null {
    const tn = step.batch.textNegatives;
    if (!tn) throw new DataError("itc textNegatives: the batches carry no text negatives; set data.format.negatives (e.g. json:negatives)");
    if (tn.rows.length === 0) return null;
    const { imageEmbeds, textEmbeds } = step.online();
    const rows = tf.tensor1d(tn.rows, "int32");
    const imageFeat = this.imageFeatures(tf.gather(imageEmbeds, rows));
    const positive = this.textFeatures(tf.gather(textEmbeds, rows), tf.gather(step.batch.mask, rows));
    const negative = this.textFeatures(step.model.encodeText(tn.ids, tn.mask), tn.mask);
    const logits = this.scaleSimilarity(tf.stack([tf.sum(tf.mul(imageFeat, positive), -1), tf.sum(tf.mul(imageFeat, negative), -1)], 1));
    const loss = tf.neg(tf.mean(tf.slice(tf.logSoftmax(logits, -1), [0, 0], [-1, 1])));
    step.record("loss_ita_text_negatives", loss);
    return loss;
  }

  /**
   * Enqueue the momentum features (and their image ids) at queue_ptr (ALBEF's
   * _dequeue_and_enqueue) — once per optimizer step: under gradient
   * accumulation the micro-batches' features wait for the last one, so the
   * queue advances as it would for one batch of all of them.
   */
  finish(step: StepContext): void {
    const p = this.prepared();
    this.step = null;
    const { queues } = this.parts();
    const q = this.options.queue;
    if (q === 0) return;
    const imageIds = step.batch.imageIds;
    // a step abandoned half-way (an error between its micro-batches) leaves nothing behind for the next
    if (step.micro.first) for (const x of this.pendingQueue.splice(0)) tf.dispose([x.image, x.text]);
    const current = { image: p.imageFeatM, text: p.textFeatM, ids: imageIds ? Int32Array.from(imageIds) : null };
    if (!step.micro.last) {
      // what prepare made is freed after this micro-batch: the queue needs its own copies until the step's last
      this.pendingQueue.push({ ...current, image: tf.keep(tf.clone(current.image)), text: tf.keep(tf.clone(current.text)) });
      return;
    }
    const held = this.pendingQueue.splice(0);
    const all = [...held, current];
    try {
      const local = all.reduce((n, x) => n + (x.image.shape[0] as number), 0);
      // every rank's features enter every rank's queue (ALBEF's concat_all_gather), so the queues stay the same
      const gathered = tf.tidy(() => {
        const rows = (pick: (x: (typeof all)[number]) => Tensor) => (all.length === 1 ? pick(all[0]) : tf.concat(all.map(pick), 0));
        return { image: step.gatherRows(rows((x) => x.image)), text: step.gatherRows(rows((x) => x.text)) };
      });
      const gatheredIds = queues.ids ? step.gatherIds(Int32Array.from(all.flatMap((x) => (x.ids ? [...x.ids] : [])))) : null;
      const b = gathered.image.shape[0] as number;
      if (q % b !== 0) {
        tf.dispose([gathered.image, gathered.text]);
        throw new ConfigError(
          `the ITC queue (${q}) must be a multiple of the batch size × accumulation × processes (${b}, ALBEF's rule; ${local} per process)`,
          "objectives.itc.queue",
        );
      }
      const ptr = queues.ptr.dataSync()[0];
      tf.tidy(() => {
        const write = (queue: Variable, feats: Tensor) => {
          const cols = tf.transpose(feats);
          const left = tf.slice(queue, [0, 0], [-1, ptr]);
          const right = tf.slice(queue, [0, ptr + b], [-1, q - ptr - b]);
          queue.assign(tf.concat([left, cols, right], 1));
        };
        write(queues.image, gathered.image);
        write(queues.text, gathered.text);
        if (queues.ids && gatheredIds) {
          if (gatheredIds.length !== b) throw new Error(`the id queue needs ${b} image ids, got ${gatheredIds.length}`);
          write(queues.ids, tf.tensor2d(gatheredIds, [b, 1], "int32"));
        }
        queues.ptr.assign(tf.tensor1d([(ptr + b) % q], "int32"));
      });
      // alone, gathered holds the step's own features (disposed with `all` below)
      if (gathered.image !== current.image && !all.some((x) => x.image === gathered.image)) tf.dispose([gathered.image, gathered.text]);
    } finally {
      for (const x of held) tf.dispose([x.image, x.text]);
    }
    step.record("image_queue_after", queues.image);
    step.record("text_queue_after", queues.text);
    step.record("queue_ptr_after", queues.ptr);
  }
}
