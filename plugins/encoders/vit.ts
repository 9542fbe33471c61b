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
});
export type VitConfig = z.output<typeof VitConfig>;

/** Conv2d(3, width, kernel = stride = patch) written as a matmul over flattened patches. */
class PatchProjection extends Module {
  readonly weight: Variable;
  readonly bias: Variable;
  constructor(
    readonly patch: number,
    readonly width: number,
    rng: Rng,
  ) {
    super();
    // timm's _init_weights re-initialises Linear and LayerNorm only: the patch conv keeps PyTorch's default
    this.weight = this.param("weight", [width, 3, patch, patch], uniformFanIn(3 * patch * patch), rng);
    this.bias = this.param("bias", [width], uniformFanIn(3 * patch * patch), rng);
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
  readonly proj: PatchProjection;
  constructor(patch: number, width: number, rng: Rng) {
    super();
    this.proj = this.child("proj", new PatchProjection(patch, width, rng));
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
    this.patch_embed = this.child("patch_embed", new PatchEmbed(cfg.patch, cfg.width, rng));
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
      const patches = this.patch_embed.proj.forward(images);
      const cls = tf.tile(this.cls_token, [b, 1, 1]);
      let x = tf.add(tf.concat([cls, patches], 1), this.pos_embed);
      for (const block of this.blocks.items) x = block.forward(x);
      return this.norm.forward(x);
    });
  }
}
