/**
 * The fusion encoder of the built-in fusion plugins: BERT-style layers in one
 * of two attention arrangements, with the hypergraph branch in the layers
 * that carry it:
 *  - `cross`: self-attention over the text, cross-attention to the image
 *    tokens, FFN (ALBEF); the branch's nodes are [image; text] at the layer
 *    input and it updates the text rows only.
 *  - `merged`: self-attention over the concatenation [image; text], FFN;
 *    every layer updates both, and the text rows are returned.
 * With no branch layers and `cross`, this computes exactly ALBEF's fusion.
 * Layer i is ALBEF's `text_encoder.bert.encoder.layer.{fusion_layer + i}`.
 */
import {
  checkpointed,
  additiveMask,
  type AttentionSite,
  type Fusion,
  type FusionInput,
  type LayerShape,
  Linear,
  Module,
  ModuleList,
  normal,
  type Rng,
  ShapeError,
  type StepwiseFusion,
  tf,
  type Tensor,
  zeros,
} from "../../core/index.ts";
import type { ResolvedFusionDims } from "./dims.ts";
import { FusionLayer } from "./fusion-layer.ts";
import type { HypergraphBranchConfig } from "./hypergraph/branch.ts";
import type { HypergraphFusionOptions } from "./options.ts";

export class LayeredFusion extends Module implements Fusion, StepwiseFusion {
  readonly width: number;
  readonly layer: ModuleList<FusionLayer>;
  /** projects image tokens to the text width when they differ (merged attention, or the branch's nodes) */
  readonly image_proj: Linear | null;
  /** 0-based layers that carry the hypergraph branch */
  readonly hypergraphLayers: readonly number[];
  private readonly shape: LayerShape;

  constructor(
    readonly cfg: HypergraphFusionOptions,
    dims: ResolvedFusionDims,
    rng: Rng,
  ) {
    super();
    this.width = dims.width;
    const branchLayers = cfg.hypergraphLayers ?? Array.from({ length: cfg.layers }, (_, i) => i);
    const bad = branchLayers.find((i) => !Number.isInteger(i) || i < 0 || i >= cfg.layers);
    if (bad !== undefined) throw new ShapeError(`hypergraphLayers: layer ${bad} does not exist (0..${cfg.layers - 1})`);
    this.hypergraphLayers = branchLayers;
    const needProj = dims.visionWidth !== dims.width && (cfg.attention === "merged" || branchLayers.length > 0);
    this.image_proj = needProj
      ? this.child("image_proj", new Linear(dims.visionWidth, dims.width, rng, { weightInit: normal(cfg.initStd), biasInit: zeros }))
      : null;
    const { knn, clusters, iterations, kmeansInit, modalityMode, edgeWeights, norm, branch: form, fusion } = cfg;
    const branch: HypergraphBranchConfig = {
      knn,
      clusters,
      iterations,
      kmeansInit,
      modalityMode,
      edgeWeights,
      norm,
      branch: form,
      fusion,
      branchBias: cfg.branchBias,
      width: dims.width,
      eps: cfg.eps,
      dropout: cfg.dropout,
      initStd: cfg.initStd,
      mlpHidden: cfg.mlpHidden ?? dims.width,
      attentionDim: cfg.attentionDim ?? Math.max(1, Math.round(dims.width / 4)),
    };
    this.shape = { layers: cfg.layers, width: dims.width, heads: cfg.heads, intermediate: dims.intermediate, eps: cfg.eps, dropout: cfg.dropout };
    const layerCfg = { ...this.shape, crossAttention: cfg.attention === "cross", encoderWidth: dims.visionWidth, initStd: cfg.initStd };
    this.layer = this.child(
      "layer",
      new ModuleList(Array.from({ length: cfg.layers }, (_, i) => new FusionLayer(layerCfg, branchLayers.includes(i) ? branch : null, rng))),
    );
  }

  layerShape(): LayerShape {
    return { ...this.shape };
  }

  /** Cross-attention layers step one at a time; merged attention runs image and text through every layer together. */
  get stepwise(): StepwiseFusion | null {
    return this.cfg.attention === "cross" ? this : null;
  }

  /** Per branch layer at the last forward (when stats are collected): the bimodal-hyperedge fraction and the branch-attention weight of the hypergraph branch. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    this.layer.items.forEach((l, i) => {
      if (l.hypergraph?.lastBimodalFraction != null) out[`bimodal_fraction_layer${i}`] = l.hypergraph.lastBimodalFraction;
      if (l.hypergraph_fusion?.lastBranchWeight != null) out[`branch_weight_layer${i}`] = l.hypergraph_fusion.lastBranchWeight;
    });
    return out;
  }

  isExtension(name: string): boolean {
    return /^layer\.\d+\.(hypergraph|hypergraph_fusion)\./.test(name);
  }

  startFromPretrained(): string | null {
    const beta = this.cfg.pretrainedBranchBias;
    const set: number[] = [];
    this.layer.items.forEach((l, i) => {
      const bias = l.hypergraph_fusion?.branch_bias;
      if (!bias) return;
      tf.tidy(() => bias.assign(tf.tensor1d([0, beta])));
      set.push(i);
    });
    return set.length === 0
      ? null
      : `hypergraph branch bias β = ${beta} in layers ${set.join(", ")} (branch weight ≈ ${(1 / (1 + Math.exp(-beta))).toFixed(3)} at step 0)`;
  }

  collectStats(on: boolean): void {
    for (const l of this.layer.items) {
      if (l.hypergraph) l.hypergraph.collectStats = on;
      if (l.hypergraph_fusion) l.hypergraph_fusion.collectStats = on;
    }
  }

  get depth(): number {
    return this.layer.items.length;
  }

  attentionSite(layer: number): AttentionSite {
    const l = this.layer.items[layer];
    if (!l) throw new ShapeError(`fusion layer ${layer} does not exist (0..${this.layer.items.length - 1})`);
    if (this.cfg.attention === "cross") {
      if (!l.crossattention) throw new ShapeError(`fusion layer ${layer} has no cross-attention`);
      return { attention: l.crossattention.self, layout: "cross" };
    }
    return { attention: l.attention.self, layout: "merged" };
  }

  /** What the cross-attention layers need of one image (stepping them one at a time). Call inside a tidy. */
  imageContext(image: Tensor, textMask: Tensor, imageMask?: Tensor): CrossAttentionContext {
    if (this.cfg.attention !== "cross")
      throw new ShapeError("a merged-attention fusion runs image and text through every layer together; it cannot step over one image");
    const [b, ni] = image.shape as [number, number, number];
    const l = textMask.shape[1] as number;
    const imageMaskF = imageMask ? tf.cast(imageMask, "float32") : tf.ones([b, ni]);
    return {
      image,
      encMask: additiveMask(imageMaskF),
      nodesImage: this.image_proj ? this.image_proj.forward(image) : image,
      nodeMask: tf.concat([imageMaskF, tf.cast(textMask, "float32")], 1),
      modality: tf.concat([tf.zeros([b, ni]), tf.ones([b, l])], 1),
      imageTokens: ni,
      selfMask: additiveMask(textMask),
    };
  }

  /** Cross-attention layer `i` on text states x [B, L, width]. */
  stepLayer(i: number, x: Tensor, context: unknown): Tensor {
    const c = context as CrossAttentionContext;
    const layer = this.layer.at(i);
    type Masks = [Tensor, Tensor, Tensor, Tensor];
    const run = (t: Tensor, image: Tensor, nodesImage: Tensor, [selfMask, encMask, nodeMask, modality]: Masks) => {
      const graph = layer.hypergraph ? { nodes: tf.concat([nodesImage, t], 1), nodeMask, modality, textOffset: c.imageTokens } : null;
      return layer.forwardWithGraph(t, selfMask, image, encMask, graph);
    };
    const masks: Masks = [c.selfMask, c.encMask, c.nodeMask, c.modality];
    if (!this.cfg.checkpointLayers) return run(x, c.image, c.nodesImage, masks);
    // the image tokens are inputs too (their gradient reaches the image encoder); nodesImage may be the same tensor
    return c.nodesImage === c.image
      ? checkpointed(layer, [x, c.image], (t, image, ...m) => run(t, image, image, m as Masks), masks)
      : checkpointed(layer, [x, c.image, c.nodesImage], (t, image, nodes, ...m) => run(t, image, nodes, m as Masks), masks);
  }

  shareImageProjections(other: StepwiseFusion, owner: string): void {
    if (!(other instanceof LayeredFusion) || other.layer.length !== this.layer.length) {
      throw new ShapeError("cross-attention projections can be shared only with another layered fusion of as many layers");
    }
    this.layer.items.forEach((mine, i) => {
      const theirs = other.layer.at(i);
      if (!mine.crossattention || !theirs.crossattention) throw new ShapeError(`fusion layer ${i} has no cross-attention`);
      const path = `${owner}.layer.${i}.crossattention.self`;
      mine.crossattention.self.key.shareFrom(theirs.crossattention.self.key, `${path}.key`);
      mine.crossattention.self.value.shareFrom(theirs.crossattention.self.value, `${path}.value`);
    });
  }

  forward(input: FusionInput): Tensor {
    const { text, textMask, image } = input;
    if (text.shape[2] !== this.width) throw new ShapeError(`fusion: text width ${text.shape[2]} ≠ fusion width ${this.width}`);
    return tf.tidy(() => {
      if (this.cfg.attention === "cross") {
        const c = this.imageContext(image, textMask, input.imageMask);
        let x = text;
        for (let i = 0; i < this.layer.length; i++) x = this.stepLayer(i, x, c);
        return x;
      }
      const [b, ni] = image.shape as [number, number, number];
      const l = text.shape[1] as number;
      const imageMask = input.imageMask ? tf.cast(input.imageMask, "float32") : tf.ones([b, ni]);
      const nodesImage = this.image_proj ? this.image_proj.forward(image) : image;
      const nodeMask = tf.concat([imageMask, tf.cast(textMask, "float32")], 1);
      const modality = tf.concat([tf.zeros([b, ni]), tf.ones([b, l])], 1);
      const seqMask = additiveMask(nodeMask);
      let seq = tf.concat([nodesImage, text], 1);
      for (const layer of this.layer.items) {
        const run = (s: Tensor, sm: Tensor, nm: Tensor, mo: Tensor) =>
          layer.forwardWithGraph(s, sm, undefined, undefined, layer.hypergraph ? { nodes: s, nodeMask: nm, modality: mo, textOffset: 0 } : null);
        seq = this.cfg.checkpointLayers ? checkpointed(layer, [seq], run, [seqMask, nodeMask, modality]) : run(seq, seqMask, nodeMask, modality);
      }
      return tf.slice(seq, [0, ni, 0], [-1, l, -1]);
    });
  }
}

export interface CrossAttentionContext {
  image: Tensor;
  /** additive [B, 1, 1, N] */
  encMask: Tensor;
  /** image tokens at the fusion width (the hypergraph branch's image nodes) */
  nodesImage: Tensor;
  /** 0/1 [B, N + L] over [image; text] */
  nodeMask: Tensor;
  /** 0 image, 1 text [B, N + L] */
  modality: Tensor;
  imageTokens: number;
  /** additive [B, 1, 1, L] over the text */
  selfMask: Tensor;
}
