/**
 * The model every vision-language task starts from: the configured
 * VisionEncoder, TextEncoder and Fusion, the parameters of the configured
 * objectives (mounted at the root under their own names), and — for training
 * with momentum distillation — an EMA copy of each (`visual_encoder_m`, ...).
 * Names follow ALBEF's state dict: `visual_encoder`, `text_encoder`, `fusion`
 * (mapped to ALBEF's fusion layers by the checkpoint name map), then the
 * objectives' own (`vision_proj`, `itm_head`, `temp`, `image_queue`, ...).
 *
 * Initialisation happens in ALBEF's order: the objectives' online parameters
 * (in config order), then the momentum copies, then the buffers.
 */
import { ConfigError, ShapeError } from "../errors.ts";
import type { AttentionSite, Fusion } from "../registry/kinds/fusion.ts";
import type { TextEncoder, VisionEncoder } from "../registry/kinds/encoders.ts";
import type { EmbeddingHead, MatchingHead, ModelWidths, Objective, ObjectiveBuilder, ObjectiveModel, ObjectiveSetting } from "../registry/kinds/objective.ts";
import type { Initializer } from "../tensor/init.ts";
import { Module } from "../tensor/module.ts";
import type { Rng } from "../tensor/rng.ts";
import { tf, type Tensor, type Variable } from "../tensor/tf.ts";
import { MomentumCopies } from "./momentum-copies.ts";

export interface ModelParts {
  vision: VisionEncoder;
  text: TextEncoder;
  fusion: Fusion;
}

export interface VisionLanguageInput {
  /** [B, 3, H, W] float32, normalised */
  images: Tensor;
  /** [B, L] int32 */
  ids: Tensor;
  /** [B, L] 0/1 */
  mask: Tensor;
}

export interface VisionLanguageOutput {
  imageEmbeds: Tensor;
  textEmbeds: Tensor;
  fused: Tensor;
}

export interface VisionLanguageModelOptions {
  /** the objectives whose parameters the model holds, in config order */
  objectives?: readonly Objective[];
  setting?: ObjectiveSetting;
  /** momentum (EMA) copies of the encoders and fusion, built like the online ones */
  momentum?: ModelParts;
  /** the stream the objectives' parameters are initialised from */
  rng?: Rng;
}

/** ALBEF's defaults when no objective sets the momentum model's EMA rate and the distillation weight. */
export const DEFAULT_DISTILLATION = { momentum: 0.995, alpha: 0.4 } as const;

export class VisionLanguageModel extends Module implements ObjectiveModel {
  readonly visual_encoder: VisionEncoder;
  readonly text_encoder: TextEncoder;
  readonly fusion: Fusion;
  readonly visual_encoder_m: VisionEncoder | null = null;
  readonly text_encoder_m: TextEncoder | null = null;
  readonly fusion_m: Fusion | null = null;
  readonly objectives: readonly Objective[];
  readonly setting: ObjectiveSetting;
  readonly momentumRate: number;
  /** the full momentum-distillation weight α (the training loop ramps it up over the first epoch) */
  readonly alpha: number;
  private readonly momentumCopy = new Map<Module, Module>();
  private readonly copies: MomentumCopies | null = null;

  constructor(online: ModelParts, opts: VisionLanguageModelOptions = {}) {
    super();
    if (online.text.width !== online.fusion.width) throw new ShapeError(`text width ${online.text.width} ≠ fusion width ${online.fusion.width}`);
    this.visual_encoder = this.child("visual_encoder", online.vision);
    this.text_encoder = this.child("text_encoder", online.text);
    this.fusion = this.child("fusion", online.fusion);
    this.objectives = opts.objectives ?? [];
    this.setting = opts.setting ?? { imageIds: false, batchSize: 1 };
    const distillation = this.objectives.find((o) => o.distillation)?.distillation ?? DEFAULT_DISTILLATION;
    this.momentumRate = distillation.momentum;
    this.alpha = distillation.alpha;
    try {
      if (this.objectives.length > 0 && !opts.rng) throw new ShapeError("a model with objectives needs the stream their parameters are initialised from (rng)");
      const mount: Mount = {
        child: (name, m) => this.child(name, m),
        parameter: (name, shape, init, rng) => this.param(name, shape, init, rng),
        buffer: (name, value) => this.buffer(name, value),
      };
      const build = new ObjectiveParts(mount, { vision: online.vision.width, text: online.text.width, fusion: online.fusion.width }, this.setting, opts.rng);
      for (const o of this.objectives) o.build?.(build.builder(o.name));
      if (opts.momentum) {
        this.visual_encoder_m = this.child("visual_encoder_m", opts.momentum.vision);
        this.text_encoder_m = this.child("text_encoder_m", opts.momentum.text);
        this.fusion_m = this.child("fusion_m", opts.momentum.fusion);
        const pairs: [Module, Module][] = [
          [this.visual_encoder, this.visual_encoder_m],
          [this.text_encoder, this.text_encoder_m],
          [this.fusion, this.fusion_m],
          ...build.momentumCopies(),
        ];
        for (const [on, mo] of pairs) this.momentumCopy.set(on, mo);
        this.copies = new MomentumCopies(pairs);
      } else if (build.wantsMomentum) {
        throw new ShapeError("an objective asks for momentum copies of its parameters, but the model has no momentum encoders");
      }
      build.initBuffers();
    } catch (e) {
      // an objective that refuses the model (e.g. a queue that does not fit the batch) leaves nothing allocated
      this.dispose();
      opts.momentum?.vision.dispose();
      opts.momentum?.text.dispose();
      opts.momentum?.fusion.dispose();
      throw e;
    }
  }

  /** The first configured objective that trains an embedding space, or null. */
  get embedding(): EmbeddingHead | null {
    return this.objectives.find((o) => o.embedding)?.embedding ?? null;
  }

  /** The first configured objective that trains a pair score, or null. */
  get matching(): MatchingHead | null {
    return this.objectives.find((o) => o.matching)?.matching ?? null;
  }

  /** The embedding head, or a ConfigError saying who needs one. */
  requireEmbedding(what: string): EmbeddingHead {
    const head = this.embedding;
    if (!head)
      throw new ConfigError(
        `${what} needs an objective with an image-text embedding head among the config's objectives (polyalign plugins lists them)`,
        "objectives",
      );
    return head;
  }

  /** The matching head, or a ConfigError saying who needs one. */
  requireMatching(what: string): MatchingHead {
    const head = this.matching;
    if (!head)
      throw new ConfigError(`${what} needs an objective with a matching head (a score of fused image-text pairs) among the config's objectives`, "objectives");
    return head;
  }

  get hasMomentum(): boolean {
    return this.copies !== null;
  }

  momentumOf<M extends Module>(online: M): M {
    const m = this.momentumCopy.get(online);
    if (!m) throw new ShapeError("this module has no momentum copy (mounted without momentum, or the model keeps none)");
    return m as M;
  }

  /** Online parameters (what the optimiser updates), by name. */
  *trainable(): Generator<[string, Variable]> {
    for (const [name, v] of this.namedParameters()) if (!this.copies?.isMomentum(v)) yield [name, v];
  }

  /** Momentum ← online for every pair (after loading online weights that came without momentum copies). */
  copyToMomentum(): void {
    this.copies?.copy();
  }

  /** θm ← m·θm + (1 − m)·θ for every online/momentum pair. */
  momentumUpdate(m = this.momentumRate): void {
    this.copies?.update(m);
  }

  encodeImage(images: Tensor, momentum = false): Tensor {
    return this.part(this.visual_encoder, this.visual_encoder_m, momentum).forward(images);
  }

  encodeText(ids: Tensor, mask: Tensor, momentum = false): Tensor {
    return this.part(this.text_encoder, this.text_encoder_m, momentum).forward(ids, mask);
  }

  fuse(text: Tensor, textMask: Tensor, image: Tensor, momentum = false): Tensor {
    return this.part(this.fusion, this.fusion_m, momentum).forward({ text, textMask, image });
  }

  fusionAttention(layer: number): AttentionSite {
    if (!this.fusion.attentionSite) throw new ShapeError("the fusion offers no text → image attention site (its plugin has no attentionSite)");
    return this.fusion.attentionSite(layer);
  }

  get fusionDepth(): number {
    return this.fusion.depth ?? 0;
  }

  mlmLogits(hidden: Tensor, momentum = false): Tensor {
    const enc = this.part(this.text_encoder, this.text_encoder_m, momentum);
    if (!enc.mlmLogits) throw new ShapeError("the text encoder has no MLM head");
    return enc.mlmLogits(hidden);
  }

  /** Matching logits [n, 2] of (text features, image tokens) pairs: fused, then the matching head. */
  matchLogits(text: Tensor, textMask: Tensor, image: Tensor): Tensor {
    const head = this.requireMatching("scoring image-text pairs");
    return tf.tidy(() => head.matchLogits(this.fuse(text, textMask, image), textMask));
  }

  /** Unimodal encoders, then fusion of each text with its own image. All outputs belong to the caller. */
  forward(input: VisionLanguageInput): VisionLanguageOutput {
    const imageEmbeds = this.encodeImage(input.images);
    const textEmbeds = this.encodeText(input.ids, input.mask);
    const fused = tf.tidy(() => this.fuse(textEmbeds, input.mask, imageEmbeds));
    return { imageEmbeds, textEmbeds, fused };
  }

  private part<P>(online: P, momentum: P | null, useMomentum: boolean): P {
    if (!useMomentum) return online;
    if (!momentum) throw new ShapeError("this model keeps no momentum copies");
    return momentum;
  }
}

/** Where the objectives' parameters go: the model's own (protected) Module methods. */
interface Mount {
  child<M extends Module>(name: string, m: M): M;
  parameter(name: string, shape: readonly number[], init: Initializer, rng: Rng): Variable;
  buffer(name: string, value: Tensor): Variable;
}

/**
 * The objectives' parameters while the model is built: online modules and
 * tensors now, momentum copies and buffer values later, each from the model's
 * initialisation stream in ALBEF's order.
 */
class ObjectiveParts {
  private readonly momentum: { name: string; online: Module; create: (rng: Rng) => Module }[] = [];
  private readonly buffers: { variable: Variable; init: (rng: Rng) => Tensor; name: string }[] = [];

  constructor(
    private readonly mount: Mount,
    private readonly widths: ModelWidths,
    private readonly setting: ObjectiveSetting,
    private readonly rng: Rng | undefined,
  ) {}

  get wantsMomentum(): boolean {
    return this.momentum.length > 0;
  }

  private stream(): Rng {
    if (!this.rng) throw new ShapeError("the model was built without an initialisation stream for objective parameters");
    return this.rng;
  }

  builder(owner: string): ObjectiveBuilder {
    return {
      widths: this.widths,
      setting: this.setting,
      module: (name, create, opts) => {
        const online = this.mount.child(name, create(this.stream()));
        if (opts?.momentum) this.momentum.push({ name, online, create });
        return online;
      },
      parameter: (name, shape, init) => this.mount.parameter(name, shape, init, this.stream()),
      buffer: (name, shape, dtype, init) => {
        const variable = this.mount.buffer(name, tf.zeros(shape as number[], dtype));
        if (init) this.buffers.push({ variable, init, name: `${owner}: ${name}` });
        return variable;
      },
    };
  }

  /** `<name>_m` for every module mounted with momentum, mounted now. */
  momentumCopies(): [Module, Module][] {
    return this.momentum.map(({ name, online, create }) => [online, this.mount.child(`${name}_m`, create(this.stream()))]);
  }

  initBuffers(): void {
    for (const b of this.buffers) {
      const value = b.init(this.stream());
      if (value.shape.join() !== b.variable.shape.join() || value.dtype !== b.variable.dtype) {
        value.dispose();
        throw new ShapeError(`${b.name}: its initial value is [${value.shape}] ${value.dtype}, the buffer [${b.variable.shape}] ${b.variable.dtype}`);
      }
      b.variable.assign(value);
      value.dispose();
    }
  }
}
