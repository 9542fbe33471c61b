/**
 * ALBEF's pre-training model around the configured plugins: the unimodal
 * encoders and the fusion module, the ITC projections, the ITM head, the
 * learnable temperature, the momentum (EMA) copies and the feature queues.
 * Names follow ALBEF's state dict (`vision_proj`, `temp`, `image_queue`,
 * `visual_encoder_m`, ...), with the fusion layers under `fusion` / `fusion_m`.
 */
import { tf, type Tensor, type Variable } from "../tensor/tf.ts";
import { Module } from "../tensor/module.ts";
import { Linear } from "../tensor/layers.ts";
import { constant, uniformFanIn } from "../tensor/init.ts";
import type { Rng } from "../tensor/rng.ts";
import type { Fusion, TextEncoder, VisionEncoder } from "../registry/kinds.ts";
import { ShapeError } from "../errors.ts";
import { MomentumCopies } from "./momentum-copies.ts";

export type Pooling = "cls" | "mean";

export interface PretrainModelOptions {
  embedDim: number;
  /** feature queue length; 0 = in-batch negatives only */
  queueSize: number;
  momentum: number;
  temp: number;
  /**
   * How a sequence becomes one vector for ITC (and, for text, ITM): ALBEF takes
   * the CLS row ("cls"). "mean" averages the valid tokens — it learns far faster
   * from scratch, where a randomly initialised CLS row carries almost nothing.
   */
  pooling?: { image: Pooling; text: Pooling };
  /**
   * Keep the image id of every queued feature (`idx_queue`, ALBEF's retrieval
   * model) so that fine-tuning treats queued features of the same image as positives.
   */
  idQueue?: boolean;
}

/** The CLS row [B, D], or the mean over valid tokens when `mask` [B, L] is given with "mean". */
export function poolTokens(h: Tensor, pooling: Pooling, mask?: Tensor): Tensor {
  return tf.tidy(() => {
    if (pooling === "cls") return tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]);
    if (!mask) return tf.mean(h, 1);
    const m = tf.expandDims(tf.cast(mask, "float32"), 2);
    return tf.div(tf.sum(tf.mul(h, m), 1), tf.maximum(tf.sum(m, 1), 1));
  });
}

export interface ModelParts {
  vision: VisionEncoder;
  text: TextEncoder;
  fusion: Fusion;
}

/** x / max(‖x‖₂, 1e-12) along the last axis (PyTorch F.normalize). */
export function l2normalize(x: Tensor): Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), 1e-12)));
}

function pytorchLinear(inF: number, outF: number, rng: Rng): Linear {
  return new Linear(inF, outF, rng, { weightInit: uniformFanIn(inF), biasInit: uniformFanIn(inF) });
}

export class PretrainModel extends Module {
  readonly visual_encoder: VisionEncoder;
  readonly text_encoder: TextEncoder;
  readonly fusion: Fusion;
  readonly vision_proj: Linear;
  readonly text_proj: Linear;
  readonly itm_head: Linear;
  readonly temp: Variable;
  readonly visual_encoder_m: VisionEncoder;
  readonly text_encoder_m: TextEncoder;
  readonly fusion_m: Fusion;
  readonly vision_proj_m: Linear;
  readonly text_proj_m: Linear;
  readonly image_queue: Variable;
  readonly text_queue: Variable;
  readonly queue_ptr: Variable;
  /** image ids of the queued features (−100 = none; only with `idQueue`) */
  readonly idx_queue?: Variable;
  private readonly copies: MomentumCopies;

  constructor(
    online: ModelParts,
    momentum: ModelParts,
    readonly opts: PretrainModelOptions,
    rng: Rng,
  ) {
    super();
    if (online.text.width !== online.fusion.width) {
      throw new ShapeError(`text width ${online.text.width} ≠ fusion width ${online.fusion.width}`);
    }
    this.visual_encoder = this.child("visual_encoder", online.vision);
    this.text_encoder = this.child("text_encoder", online.text);
    this.fusion = this.child("fusion", online.fusion);
    this.vision_proj = this.child("vision_proj", pytorchLinear(online.vision.width, opts.embedDim, rng));
    this.text_proj = this.child("text_proj", pytorchLinear(online.text.width, opts.embedDim, rng));
    this.itm_head = this.child("itm_head", pytorchLinear(online.fusion.width, 2, rng));
    this.temp = this.param("temp", [], constant(opts.temp), rng);
    this.visual_encoder_m = this.child("visual_encoder_m", momentum.vision);
    this.text_encoder_m = this.child("text_encoder_m", momentum.text);
    this.fusion_m = this.child("fusion_m", momentum.fusion);
    this.vision_proj_m = this.child("vision_proj_m", pytorchLinear(online.vision.width, opts.embedDim, rng));
    this.text_proj_m = this.child("text_proj_m", pytorchLinear(online.text.width, opts.embedDim, rng));
    // random unit columns (each a feature vector of embedDim), as ALBEF initialises its queues
    const queue = () =>
      opts.queueSize === 0
        ? tf.zeros([opts.embedDim, 0])
        : tf.tidy(() => tf.transpose(l2normalize(tf.randomNormal([opts.queueSize, opts.embedDim], 0, 1, "float32", rng.nextSeed()))));
    this.image_queue = this.buffer("image_queue", queue());
    this.text_queue = this.buffer("text_queue", queue());
    this.queue_ptr = this.buffer("queue_ptr", tf.zeros([1], "int32"));
    if (opts.idQueue) this.idx_queue = this.buffer("idx_queue", tf.fill([1, opts.queueSize], -100, "int32"));
    this.copies = new MomentumCopies([
      [this.visual_encoder, this.visual_encoder_m],
      [this.text_encoder, this.text_encoder_m],
      [this.fusion, this.fusion_m],
      [this.vision_proj, this.vision_proj_m],
      [this.text_proj, this.text_proj_m],
    ]);
  }

  /** Online parameters (what the optimiser updates), by name. */
  *trainable(): Generator<[string, Variable]> {
    for (const [name, v] of this.namedParameters()) if (!this.copies.isMomentum(v)) yield [name, v];
  }

  /** Momentum ← online for every pair (after loading online weights that came without momentum copies). */
  copyToMomentum(): void {
    this.copies.copy();
  }

  /** θ_m ← m·θ_m + (1 − m)·θ for every online/momentum pair. */
  momentumUpdate(m = this.opts.momentum): void {
    this.copies.update(m);
  }

  clampTemp(): void {
    tf.tidy(() => this.temp.assign(tf.clipByValue(this.temp, 0.001, 0.5)));
  }

  get pooling(): { image: Pooling; text: Pooling } {
    return this.opts.pooling ?? { image: "cls", text: "cls" };
  }

  imageFeat(imageEmbeds: Tensor, momentum = false): Tensor {
    return tf.tidy(() => l2normalize((momentum ? this.vision_proj_m : this.vision_proj).forward(poolTokens(imageEmbeds, this.pooling.image))));
  }

  /** `mask` is needed for mean pooling (ALBEF's CLS pooling ignores it). */
  textFeat(textEmbeds: Tensor, momentum = false, mask?: Tensor): Tensor {
    return tf.tidy(() => l2normalize((momentum ? this.text_proj_m : this.text_proj).forward(poolTokens(textEmbeds, this.pooling.text, mask))));
  }

  encodeImage(images: Tensor, momentum = false): Tensor {
    return (momentum ? this.visual_encoder_m : this.visual_encoder).forward(images);
  }

  encodeText(ids: Tensor, mask: Tensor, momentum = false): Tensor {
    return (momentum ? this.text_encoder_m : this.text_encoder).forward(ids, mask);
  }

  fuse(text: Tensor, textMask: Tensor, image: Tensor, momentum = false): Tensor {
    return (momentum ? this.fusion_m : this.fusion).forward({ text, textMask, image });
  }

  /** ITM logits [n, 2] of (text, image) pairs: the fused text's pooled row through `itm_head`. */
  matchLogits(text: Tensor, textMask: Tensor, image: Tensor): Tensor {
    return tf.tidy(() => this.itm_head.forward(poolTokens(this.fuse(text, textMask, image), this.pooling.text, textMask)));
  }

  /** Vocabulary logits of fused hidden states. */
  mlmLogits(hidden: Tensor, momentum = false): Tensor {
    const enc = momentum ? this.text_encoder_m : this.text_encoder;
    if (!enc.mlmLogits) throw new ShapeError("the text encoder has no MLM head (mlm objective needs one)");
    return enc.mlmLogits(hidden);
  }

  /** The image ids of the queued features, in queue order (empty without `idQueue`). */
  queuedIds(): Int32Array {
    return this.idx_queue ? (this.idx_queue.dataSync() as Int32Array) : new Int32Array(0);
  }

  /**
   * Write momentum features (and, with `idQueue`, their image ids) into the
   * queues at queue_ptr and advance it (ALBEF's _dequeue_and_enqueue).
   */
  enqueue(imageFeatM: Tensor, textFeatM: Tensor, imageIds?: Int32Array): void {
    const b = imageFeatM.shape[0] as number;
    const q = this.opts.queueSize;
    if (q === 0) return; // no queue: in-batch negatives only
    if (q % b !== 0) throw new ShapeError(`queue size ${q} must be a multiple of the batch size ${b} (ALBEF's rule)`);
    const ptr = this.queue_ptr.dataSync()[0];
    tf.tidy(() => {
      const write = (queue: Variable, feats: Tensor) => {
        const cols = tf.transpose(feats);
        const left = tf.slice(queue, [0, 0], [-1, ptr]);
        const right = tf.slice(queue, [0, ptr + b], [-1, q - ptr - b]);
        queue.assign(tf.concat([left, cols, right], 1));
      };
      write(this.image_queue, imageFeatM);
      write(this.text_queue, textFeatM);
      if (this.idx_queue) {
        if (!imageIds || imageIds.length !== b) throw new ShapeError(`the id queue needs ${b} image ids, got ${imageIds?.length ?? "none"}`);
        write(this.idx_queue, tf.tensor2d(imageIds, [b, 1], "int32"));
      }
      this.queue_ptr.assign(tf.tensor1d([(ptr + b) % q], "int32"));
    });
  }
}
