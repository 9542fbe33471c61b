/**
 * ViT image encoder as ALBEF builds it (timm 0.4.9 VisionTransformer): patch
 * projection, CLS token, learned positions, pre-norm blocks with a fused qkv,
 * exact GELU, LayerNorm eps 1e-6, final norm over all tokens. Parameter names
 * follow ALBEF's `visual_encoder.*` state dict.
 */
import { z } from "zod";
import {
  type ProbedAttention,
  type Rng,
  type Tensor,
  type Variable,
  type VisionEncoder,
  gelu,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  mergeHeads,
  scaledDotProductAttention,
  checkpointed,
  ShapeError,
  splitHeads,
  tf,
  truncatedNormal,
  uniformFanIn,
} from "../../core/index.ts";

export const VitConfig = z.strictObject({
  imageSize: z.number().int().positive().default(256),
  patch: z.number().int().positive().default(16),
  width: z.number().int().positive().default(768),
  depth: z.number().int().nonnegative().default(12),
  heads: z.number().int().positive().default(12),
  mlpRatio: z.number().positive().default(4),
  eps: z.number().positive().default(1e-6),
  /**
   * a convolutional stem before the patch projection: the output channels of each
   * 3×3 convolution (stride 1, zero padding 1, GELU after each), e.g. [32, 32]; [] = none
   * (ALBEF's ViT). A tiny ViT trained from scratch does not see small shapes through
   * its linear patches alone ("Early convolutions help transformers see better",
   * Xiao et al. 2021; docs/study.md §10 measures it on the built-in set)
   */
  stem: z.array(z.number().int().positive()).default([]),
  /**
   * activation checkpointing per layer while training: each layer keeps only its input and
   * output and reruns its forward in the backward pass (less memory, about a third more time)
   */
  checkpointLayers: z.boolean().default(false),
});
export type VitConfig = z.output<typeof VitConfig>;

/**
 * Conv2d(cin, cout, 3, stride 1, padding 1) — PyTorch's weight layout [cout, cin, 3, 3] and
 * default initialisation — as the sum of nine matmuls, one per kernel tap, each over the
 * zero-padded input shifted by that tap. It works channels-first over the whole batch
 * (CNHW: [cin, B, H, W] in, [cout, B, H, W] out), so every tap is one plain matmul.
 */
export class Conv3x3 extends Module {
  readonly weight: Variable;
  readonly bias: Variable;
  constructor(
    readonly cin: number,
    readonly cout: number,
    rng: Rng,
  ) {
    super();
    this.weight = this.param("weight", [cout, cin, 3, 3], uniformFanIn(cin * 9), rng);
    this.bias = this.param("bias", [cout], uniformFanIn(cin * 9), rng);
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [c, b, h, w] = x.shape as number[];
      const padded = tf.pad(x, [
        [0, 0],
        [0, 0],
        [1, 1],
        [1, 1],
      ]);
      const taps = tf.reshape(this.weight, [this.cout, c, 9]);
      let out: Tensor = tf.reshape(this.bias, [this.cout, 1]);
      for (let t = 0; t < 9; t++) {
        const shifted = tf.reshape(tf.slice(padded, [0, 0, Math.floor(t / 3), t % 3], [c, b, h, w]), [c, b * h * w]);
        const tap = tf.reshape(tf.slice(taps, [0, 0, t], [this.cout, c, 1]), [this.cout, c]);
        out = tf.add(out, tf.matMul(tap, shifted));
      }
      return tf.reshape(out, [this.cout, b, h, w]);
    });
  }
}

/** Conv2d(channels, width, kernel = stride = patch) written as a matmul over flattened patches. */
class PatchProjection extends Module {
  readonly weight: Variable;
  readonly bias: Variable;
  constructor(
    readonly patch: number,
    readonly width: number,
    rng: Rng,
    readonly channels = 3,
  ) {
    super();
    // timm's _init_weights re-initialises Linear and LayerNorm only: the patch conv keeps PyTorch's default
    this.weight = this.param("weight", [width, channels, patch, patch], uniformFanIn(channels * patch * patch), rng);
    this.bias = this.param("bias", [width], uniformFanIn(channels * patch * patch), rng);
  }
  forward(images: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, c, h, w] = images.shape as number[];
      const p = this.patch;
      const gh = h / p;
      const gw = w / p;
      // [B,3,gh,p,gw,p] → [B,gh,gw,3,p,p]: (c, kh, kw) order matches the conv weight's flattening.
      const grid = tf.transpose(tf.reshape(images, [b, c, gh, p, gw, p]), [0, 2, 4, 1, 3, 5]);
      const patches = tf.reshape(grid, [b * gh * gw, c * p * p]);
      const kernel = tf.reshape(this.weight, [this.width, c * p * p]);
      const out = tf.fused.matMul({ a: patches, b: kernel, transposeB: true, bias: this.bias });
      return tf.reshape(out, [b, gh * gw, this.width]);
    });
  }
}

class PatchEmbed extends Module {
  readonly stem: ModuleList<Conv3x3> | null;
  readonly proj: PatchProjection;
  constructor(patch: number, width: number, stem: readonly number[], rng: Rng) {
    super();
    const ins = [3, ...stem];
    this.stem = stem.length > 0 ? this.child("stem", new ModuleList(stem.map((c, i) => new Conv3x3(ins[i], c, rng)))) : null;
    this.proj = this.child("proj", new PatchProjection(patch, width, rng, ins[ins.length - 1]));
  }
  /** images [B, 3, S, S] → patch tokens [B, (S/patch)², width] */
  forward(images: Tensor): Tensor {
    return tf.tidy(() => {
      if (!this.stem) return this.proj.forward(images);
      let x = tf.transpose(images, [1, 0, 2, 3]);
      for (const conv of this.stem.items) x = gelu(conv.forward(x));
      return this.proj.forward(tf.transpose(x, [1, 0, 2, 3]));
    });
  }
}

class VitAttention extends Module implements ProbedAttention {
  readonly qkv: Linear;
  readonly proj: Linear;
  probe: ((probs: Tensor) => Tensor) | null = null;
  constructor(
    readonly width: number,
    readonly heads: number,
    rng: Rng,
  ) {
    super();
    this.qkv = this.child("qkv", new Linear(width, 3 * width, rng));
    this.proj = this.child("proj", new Linear(width, width, rng));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [q, k, v] = tf.split(this.qkv.forward(x), 3, -1).map((t) => splitHeads(t, this.heads));
      const { context } = scaledDotProductAttention(q, k, v, { probe: this.probe ?? undefined });
      return this.proj.forward(mergeHeads(context));
    });
  }
}

class VitMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(width: number, hidden: number, rng: Rng) {
    super();
    this.fc1 = this.child("fc1", new Linear(width, hidden, rng));
    this.fc2 = this.child("fc2", new Linear(hidden, width, rng));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

class VitBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: VitAttention;
  readonly norm2: LayerNorm;
  readonly mlp: VitMlp;
  constructor(cfg: VitConfig, rng: Rng) {
    super();
    this.norm1 = this.child("norm1", new LayerNorm(cfg.width, cfg.eps, rng));
    this.attn = this.child("attn", new VitAttention(cfg.width, cfg.heads, rng));
    this.norm2 = this.child("norm2", new LayerNorm(cfg.width, cfg.eps, rng));
    this.mlp = this.child("mlp", new VitMlp(cfg.width, Math.round(cfg.width * cfg.mlpRatio), rng));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const h = tf.add(x, this.attn.forward(this.norm1.forward(x)));
      return tf.add(h, this.mlp.forward(this.norm2.forward(h)));
    });
  }
}

export class VitEncoder extends Module implements VisionEncoder {
  readonly width: number;
  readonly cls_token: Variable;
  readonly pos_embed: Variable;
  readonly patch_embed: PatchEmbed;
  readonly blocks: ModuleList<VitBlock>;
  readonly norm: LayerNorm;

  constructor(
    readonly cfg: VitConfig,
    rng: Rng,
  ) {
    super();
    if (cfg.imageSize % cfg.patch !== 0) {
      throw new ShapeError(`vit: imageSize ${cfg.imageSize} is not a multiple of patch ${cfg.patch}`);
    }
    this.width = cfg.width;
    const grid = cfg.imageSize / cfg.patch;
    this.cls_token = this.param("cls_token", [1, 1, cfg.width], truncatedNormal(0.02), rng);
    this.pos_embed = this.param("pos_embed", [1, 1 + grid * grid, cfg.width], truncatedNormal(0.02), rng);
    this.patch_embed = this.child("patch_embed", new PatchEmbed(cfg.patch, cfg.width, cfg.stem, rng));
    this.blocks = this.child("blocks", new ModuleList(Array.from({ length: cfg.depth }, () => new VitBlock(cfg, rng))));
    this.norm = this.child("norm", new LayerNorm(cfg.width, cfg.eps, rng));
  }

  /** images [B, 3, S, S] → tokens [B, 1 + (S/patch)², width] after the final norm. */
  get depth(): number {
    return this.blocks.items.length;
  }

  /** Block `block`'s self-attention (Grad-CAM in ITC mode). */
  selfAttention(block: number): ProbedAttention {
    const b = this.blocks.items[block];
    if (!b) throw new ShapeError(`vit block ${block} does not exist (0..${this.blocks.items.length - 1})`);
    return b.attn;
  }

  forward(images: Tensor): Tensor {
    const s = this.cfg.imageSize;
    if (images.rank !== 4 || images.shape[1] !== 3 || images.shape[2] !== s || images.shape[3] !== s) {
      throw new ShapeError(`vit: expected images [B, 3, ${s}, ${s}], got [${images.shape.join(",")}]`);
    }
    return tf.tidy(() => {
      const b = images.shape[0] as number;
      const patches = this.patch_embed.forward(images);
      const cls = tf.tile(this.cls_token, [b, 1, 1]);
      let x = tf.add(tf.concat([cls, patches], 1), this.pos_embed);
      for (const block of this.blocks.items) x = this.cfg.checkpointLayers ? checkpointed(block, [x], (h) => block.forward(h)) : block.forward(x);
      return this.norm.forward(x);
    });
  }
}
