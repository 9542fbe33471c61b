/**
 * ALBEF's NLVR2 model (models/model_nlvr.py): one statement, two images. The
 * fusion becomes pairs of layers — for each pre-trained fusion layer i, one
 * layer cross-attending to image 0 and one to image 1 (ALBEF's BERT layers
 * 6+2i and 7+2i), both initialised from layer i, sharing the cross-attention
 * key and value projections — and a classifier (Linear, ReLU, Linear) reads
 * the pooled text row. Momentum copies of everything distil the prediction.
 */
import {
  ConfigError,
  type Fusion,
  Linear,
  MomentumCopies,
  Module,
  type Pooling,
  poolTokens,
  type Rng,
  ShapeError,
  type StepwiseFusion,
  type TextEncoder,
  tf,
  type Tensor,
  uniformFanIn,
  type Variable,
  type VisionEncoder,
} from "../../../core/index.ts";

/** Two copies of a fusion, stepped in turn: layer i over image 0, then layer i over image 1 (their cross-attention keys and values shared). */
export class PairedFusion extends Module {
  readonly image0: Fusion;
  readonly image1: Fusion;
  private readonly steps0: StepwiseFusion;
  private readonly steps1: StepwiseFusion;

  constructor(a: Fusion, b: Fusion, name = "fusion") {
    super();
    if (!a.stepwise || !b.stepwise) {
      throw new ConfigError(
        "NLVR2 needs a cross-attention fusion (cross-attention, or hypergraph with attention: cross): it steps the fusion layers over each image in turn",
        "model.fusion",
      );
    }
    this.steps0 = a.stepwise;
    this.steps1 = b.stepwise;
    if (this.steps0.depth !== this.steps1.depth) throw new ShapeError(`the paired fusions have ${this.steps0.depth} and ${this.steps1.depth} layers`);
    this.image0 = this.child("image0", a);
    this.image1 = this.child("image1", b);
    this.steps1.shareImageProjections(this.steps0, `${name}.image0`);
  }

  get width(): number {
    return this.image0.width;
  }

  /** layers per image (the pairs) */
  get depth(): number {
    return this.steps0.depth;
  }

  forward(text: Tensor, textMask: Tensor, image0: Tensor, image1: Tensor): Tensor {
    return tf.tidy(() => {
      const c0 = this.steps0.imageContext(image0, textMask);
      const c1 = this.steps1.imageContext(image1, textMask);
      let x = text;
      for (let i = 0; i < this.steps0.depth; i++) {
        x = this.steps0.stepLayer(i, x, c0);
        x = this.steps1.stepLayer(i, x, c1);
      }
      return x;
    });
  }
}

/** Linear → ReLU → Linear, named as ALBEF's `nn.Sequential` (`0`, `2`). */
export class ClassifierHead extends Module {
  readonly first: Linear;
  readonly second: Linear;
  constructor(width: number, classes: number, rng: Rng) {
    super();
    this.first = this.child("0", new Linear(width, width, rng, { weightInit: uniformFanIn(width), biasInit: uniformFanIn(width) }));
    this.second = this.child("2", new Linear(width, classes, rng, { weightInit: uniformFanIn(width), biasInit: uniformFanIn(width) }));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.second.forward(tf.relu(this.first.forward(x))));
  }
}

export interface NlvrParts {
  vision: VisionEncoder;
  text: TextEncoder;
  fusion0: Fusion;
  fusion1: Fusion;
}

export interface NlvrModelOptions {
  momentum: number;
  /** how the fused text becomes the classifier's input (ALBEF: the CLS row) */
  pooling: Pooling;
  classes: number;
}

export class NlvrModel extends Module {
  readonly visual_encoder: VisionEncoder;
  readonly text_encoder: TextEncoder;
  readonly fusion: PairedFusion;
  readonly cls_head: ClassifierHead;
  readonly visual_encoder_m: VisionEncoder;
  readonly text_encoder_m: TextEncoder;
  readonly fusion_m: PairedFusion;
  readonly cls_head_m: ClassifierHead;
  private readonly copies: MomentumCopies;

  constructor(
    online: NlvrParts,
    momentum: NlvrParts,
    readonly opts: NlvrModelOptions,
    rng: Rng,
  ) {
    super();
    this.visual_encoder = this.child("visual_encoder", online.vision);
    this.text_encoder = this.child("text_encoder", online.text);
    this.fusion = this.child("fusion", new PairedFusion(online.fusion0, online.fusion1, "fusion"));
    this.cls_head = this.child("cls_head", new ClassifierHead(this.fusion.width, opts.classes, rng));
    this.visual_encoder_m = this.child("visual_encoder_m", momentum.vision);
    this.text_encoder_m = this.child("text_encoder_m", momentum.text);
    this.fusion_m = this.child("fusion_m", new PairedFusion(momentum.fusion0, momentum.fusion1, "fusion_m"));
    this.cls_head_m = this.child("cls_head_m", new ClassifierHead(this.fusion.width, opts.classes, rng));
    this.copies = new MomentumCopies([
      [this.visual_encoder, this.visual_encoder_m],
      [this.text_encoder, this.text_encoder_m],
      [this.fusion, this.fusion_m],
      [this.cls_head, this.cls_head_m],
    ]);
  }

  *trainable(): Generator<[string, Variable]> {
    for (const [name, v] of this.namedParameters()) if (!this.copies.isMomentum(v)) yield [name, v];
  }

  momentumUpdate(): void {
    this.copies.update(this.opts.momentum);
  }

  /** Momentum ← online, e.g. after loading online weights (LAVIS's reading of ALBEF; see the NLVR2 task). */
  copyToMomentum(): void {
    this.copies.copy();
  }

  /** `images` [B, 2, 3, S, S], `ids`/`mask` [B, L] → class logits [B, classes]. */
  logits(images: Tensor, ids: Tensor, mask: Tensor, momentum = false): Tensor {
    return tf.tidy(() => {
      const [b, k, c, h, w] = images.shape as number[];
      if (images.rank !== 5 || k !== 2) throw new ShapeError(`NLVR2 takes two images per sample [B, 2, 3, S, S]; got [${images.shape.join(", ")}]`);
      const both = tf.reshape(tf.transpose(images, [1, 0, 2, 3, 4]), [2 * b, c, h, w]);
      const embeds = (momentum ? this.visual_encoder_m : this.visual_encoder).forward(both);
      const [e0, e1] = tf.split(embeds, 2, 0);
      const text = (momentum ? this.text_encoder_m : this.text_encoder).forward(ids, mask);
      const fused = (momentum ? this.fusion_m : this.fusion).forward(text, mask, e0, e1);
      return (momentum ? this.cls_head_m : this.cls_head).forward(poolTokens(fused, this.opts.pooling, mask));
    });
  }
}
