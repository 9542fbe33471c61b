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

export interface PretrainModelOptions {
  embedDim: number;
  queueSize: number;
  momentum: number;
  temp: number;
}

export interface ModelParts {
  vision: VisionEncoder;
  text: TextEncoder;
  fusion: Fusion;
}

/** x / max(‖x‖₂, 1e-12) along the last axis (PyTorch F.normalize). */
export function l2normalize(x: Tensor): Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, "euclidean", -1, true), 1e-12)));
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
  private readonly pairs: [Variable, Variable][] = [];
  private readonly momentumVars = new Set<Variable>();

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
    const queue = () => tf.tidy(() => l2normalize(tf.transpose(tf.randomNormal([opts.queueSize, opts.embedDim], 0, 1, "float32", rng.nextSeed()))));
    this.image_queue = this.buffer("image_queue", queue());
    this.text_queue = this.buffer("text_queue", queue());
    this.queue_ptr = this.buffer("queue_ptr", tf.zeros([1], "int32"));
    const copies: [Module, Module][] = [
      [this.visual_encoder, this.visual_encoder_m],
      [this.text_encoder, this.text_encoder_m],
      [this.fusion, this.fusion_m],
      [this.vision_proj, this.vision_proj_m],
      [this.text_proj, this.text_proj_m],
    ];
    for (const [on, mo] of copies) {
      const a = [...on.namedParameters()];
      const b = new Map(mo.namedParameters());
      for (const [name, v] of a) {
        const m = b.get(name);
        if (!m || m.shape.join() !== v.shape.join()) throw new ShapeError(`momentum copy lacks ${name} or differs in shape`);
        m.assign(v);
        this.pairs.push([v, m]);
        this.momentumVars.add(m);
      }
    }
  }

  /** Online parameters (what the optimiser updates), by name. */
  *trainable(): Generator<[string, Variable]> {
    for (const [name, v] of this.namedParameters()) if (!this.momentumVars.has(v)) yield [name, v];
  }

  /** θ_m ← m·θ_m + (1 − m)·θ for every online/momentum pair. */
  momentumUpdate(m = this.opts.momentum): void {
    tf.tidy(() => {
      for (const [p, pm] of this.pairs) pm.assign(tf.add(tf.mul(pm, m), tf.mul(p, 1 - m)));
    });
  }

  clampTemp(): void {
    tf.tidy(() => this.temp.assign(tf.clipByValue(this.temp, 0.001, 0.5)));
  }

  imageFeat(imageEmbeds: Tensor, momentum = false): Tensor {
    return tf.tidy(() => {
      const cls = tf.squeeze(tf.slice(imageEmbeds, [0, 0, 0], [-1, 1, -1]), [1]);
      return l2normalize((momentum ? this.vision_proj_m : this.vision_proj).forward(cls));
    });
  }

  textFeat(textEmbeds: Tensor, momentum = false): Tensor {
    return tf.tidy(() => {
      const cls = tf.squeeze(tf.slice(textEmbeds, [0, 0, 0], [-1, 1, -1]), [1]);
      return l2normalize((momentum ? this.text_proj_m : this.text_proj).forward(cls));
    });
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

  /** Vocabulary logits of fused hidden states. */
  mlmLogits(hidden: Tensor, momentum = false): Tensor {
    const enc = momentum ? this.text_encoder_m : this.text_encoder;
    if (!enc.mlmLogits) throw new ShapeError("the text encoder has no MLM head (mlm objective needs one)");
    return enc.mlmLogits(hidden);
  }

  /** Write momentum features into the queues at queue_ptr and advance it (ALBEF's _dequeue_and_enqueue). */
  enqueue(imageFeatM: Tensor, textFeatM: Tensor): void {
    const b = imageFeatM.shape[0] as number;
    const q = this.opts.queueSize;
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
      this.queue_ptr.assign(tf.tensor1d([(ptr + b) % q], "int32"));
    });
  }
}
