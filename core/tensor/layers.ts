/**
 * The basic layers: Linear ([out, in] weights like PyTorch), LayerNorm
 * (eps per layer), Embedding, Dropout, and the exact (erf) GELU.
 */
import { fusedGelu, fusedLayerNorm } from "./fused.ts";
import { tf, type Tensor, type Variable } from "./tf.ts";
import { Module } from "./module.ts";
import { type Initializer, ones, truncatedNormal, zeros, normal } from "./init.ts";
import type { Rng } from "./rng.ts";
import { ShapeError } from "../errors.ts";

function lastDim(x: Tensor, expected: number, who: string): void {
  const d = x.shape[x.shape.length - 1];
  if (d !== expected) {
    throw new ShapeError(`${who}: expected last dimension ${expected}, got shape [${x.shape.join(",")}]`);
  }
}

export interface LinearOptions {
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/** y = x Wᵀ + b with W stored [out, in]. Inputs of any rank are multiplied as 2-D. */
export class Linear extends Module {
  private w: Variable;
  private b: Variable | null;

  get weight(): Variable {
    return this.w;
  }

  get bias(): Variable | null {
    return this.b;
  }

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: LinearOptions = {},
  ) {
    super();
    this.w = this.param("weight", [outFeatures, inFeatures], opts.weightInit ?? truncatedNormal(0.02), rng);
    this.b = opts.bias === false ? null : this.param("bias", [outFeatures], opts.biasInit ?? zeros, rng);
  }

  /**
   * Share `owner`'s weight and bias from now on (ALBEF's NLVR2 model shares the
   * cross-attention key/value projections within a pair of layers);
   * `ownerName` is the owner's dotted name, listed for the tied entries.
   */
  shareFrom(owner: Linear, ownerName: string): void {
    if ((owner.b === null) !== (this.b === null)) throw new ShapeError(`cannot share ${ownerName}: one Linear has a bias, the other not`);
    this.w = this.retie("weight", owner.w, `${ownerName}.weight`);
    if (owner.b && this.b) this.b = this.retie("bias", owner.b, `${ownerName}.bias`);
  }

  forward(x: Tensor): Tensor {
    lastDim(x, this.inFeatures, "Linear");
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      const y = tf.fused.matMul({ a: x2, b: this.weight, transposeB: true, bias: this.bias ?? undefined });
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias (biased variance). */
export class LayerNorm extends Module {
  readonly weight: Variable;
  readonly bias: Variable;

  constructor(
    readonly features: number,
    readonly eps: number,
    rng: Rng,
  ) {
    super();
    this.weight = this.param("weight", [features], ones, rng);
    this.bias = this.param("bias", [features], zeros, rng);
  }

  forward(x: Tensor): Tensor {
    lastDim(x, this.features, "LayerNorm");
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** LayerNorm over the last axis: the fused kernel where polyalign's cpu kernels are installed, else composed. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  return fusedLayerNorm(x, gamma, beta, eps) ?? composedLayerNorm(x, gamma, beta, eps);
}

/** The same from tfjs ops (any backend): biased variance, PyTorch's order. */
export function composedLayerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), axis, true);
    const normed = tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gamma), beta);
  });
}

/** A lookup table [num, dim]; ids are int32 of any shape. */
export class Embedding extends Module {
  readonly weight: Variable;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    rng: Rng,
    init: Initializer = normal(0.02),
  ) {
    super();
    this.weight = this.param("weight", [numEmbeddings, dim], init, rng);
  }

  forward(ids: Tensor): Tensor {
    if (ids.dtype !== "int32") throw new ShapeError(`Embedding: ids must be int32, got ${ids.dtype}`);
    return tf.tidy(() => {
      const flat = tf.reshape(ids, [-1]);
      return tf.reshape(tf.gather(this.weight, flat), [...ids.shape, this.dim]);
    });
  }
}

/**
 * Where dropout masks come from. A trainer calls `beginStep(seed)` before
 * each step: masks then depend on (step seed, call order) alone, so a resumed
 * run draws the same masks as an uninterrupted one. Outside a step each
 * Dropout draws from its own Rng.
 */
export const dropoutSeeds = {
  active: false,
  seed: 0,
  counter: 0,
  beginStep(seed: number): void {
    this.active = true;
    this.seed = seed >>> 0;
    this.counter = 0;
  },
  end(): void {
    this.active = false;
  },
  next(): number {
    return (Math.imul(this.counter++ + 1, 0x9e3779b1) ^ this.seed) >>> 0;
  },
};

/** Inverted dropout; identity in eval mode or with p = 0. */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    private readonly rng: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout probability must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.dropout(x, this.p, undefined, dropoutSeeds.active ? dropoutSeeds.next() : this.rng.nextSeed());
  }
}

/** GELU, exact form: x · Φ(x) = 0.5 x (1 + erf(x / √2)) (PyTorch `nn.GELU()`); the fused kernel where installed. */
export function gelu(x: Tensor): Tensor {
  return fusedGelu(x) ?? composedGelu(x);
}

/** The same from tfjs ops (any backend). */
export function composedGelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}
