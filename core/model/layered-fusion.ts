/**
 * A fusion encoder of BERT-style layers with two attention arrangements and
 * an optional hypergraph branch per layer:
 *  - `cross`: self-attention over the text, cross-attention to the image
 *    tokens, FFN (ALBEF); the branch's nodes are [image; text] at the layer
 *    input and it updates the text rows only.
 *  - `merged`: self-attention over the concatenation [image; text], FFN;
 *    every layer updates both, and the text rows are returned.
 * With no branch layers and `cross`, this computes exactly ALBEF's fusion.
 */
import { tf, type Tensor } from "../tensor/tf.ts";
import { Module, ModuleList } from "../tensor/module.ts";
import { Linear } from "../tensor/layers.ts";
import { additiveMask } from "../tensor/attention.ts";
import { HypergraphBertLayer, type HypergraphBranchConfig } from "../tensor/hypergraph-layers.ts";
import { normal, zeros } from "../tensor/init.ts";
import type { Rng } from "../tensor/rng.ts";
import type { AttentionSite, Fusion, FusionInput } from "../registry/kinds.ts";
import { ShapeError } from "../errors.ts";
import type { ResolvedFusionDims } from "./fusion-dims.ts";

export interface LayeredFusionConfig {
  layers: number;
  heads: number;
  eps: number;
  dropout: number;
  attention: "cross" | "merged";
  /** 0-based layers that carry the hypergraph branch */
  hypergraphLayers: number[];
  branch: Omit<HypergraphBranchConfig, "width" | "eps" | "dropout" | "initStd" | "mlpHidden" | "attentionDim"> & { mlpHidden?: number; attentionDim?: number };
}

export class LayeredFusion extends Module implements Fusion {
  readonly width: number;
  readonly layer: ModuleList<HypergraphBertLayer>;
  /** projects image tokens to the text width when they differ (merged attention, or the branch's nodes) */
  readonly image_proj: Linear | null;

  constructor(readonly cfg: LayeredFusionConfig, dims: ResolvedFusionDims, rng: Rng) {
    super();
    this.width = dims.width;
    const bad = cfg.hypergraphLayers.find((i) => !Number.isInteger(i) || i < 0 || i >= cfg.layers);
    if (bad !== undefined) throw new ShapeError(`hypergraphLayers: layer ${bad} does not exist (0..${cfg.layers - 1})`);
    const needProj = dims.visionWidth !== dims.width && (cfg.attention === "merged" || cfg.hypergraphLayers.length > 0);
    this.image_proj = needProj ? this.child("image_proj", new Linear(dims.visionWidth, dims.width, rng, { weightInit: normal(0.02), biasInit: zeros })) : null;
    const branch: HypergraphBranchConfig = {
      ...cfg.branch,
      width: dims.width,
      eps: cfg.eps,
      dropout: cfg.dropout,
      initStd: 0.02,
      mlpHidden: cfg.branch.mlpHidden ?? dims.width,
      attentionDim: cfg.branch.attentionDim ?? Math.max(1, Math.round(dims.width / 4)),
    };
    const layerCfg = {
      width: dims.width,
      heads: cfg.heads,
      intermediate: dims.intermediate,
      eps: cfg.eps,
      dropout: cfg.dropout,
      crossAttention: cfg.attention === "cross",
      encoderWidth: dims.visionWidth,
    };
    this.layer = this.child(
      "layer",
      new ModuleList(Array.from({ length: cfg.layers }, (_, i) => new HypergraphBertLayer(layerCfg, cfg.hypergraphLayers.includes(i) ? branch : null, rng))),
    );
  }

  /** Bimodal-hyperedge fraction per branch layer at the last forward (when stats are collected). */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    this.layer.items.forEach((l, i) => {
      if (l.hypergraph?.lastBimodalFraction != null) out[`bimodal_fraction_layer${i}`] = l.hypergraph.lastBimodalFraction;
    });
    return out;
  }

  collectStats(on: boolean): void {
    for (const l of this.layer.items) if (l.hypergraph) l.hypergraph.collectStats = on;
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

  /**
   * What the cross-attention layers need of one image, for stepping them one at
   * a time (`crossLayer`; NLVR2 interleaves two images). Call inside a tidy.
   */
  crossContext(image: Tensor, textMask: Tensor, imageMask?: Tensor): CrossAttentionContext {
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
    };
  }

  /** Cross-attention layer `i` on text states x [B, L, width]; `selfMask` is additiveMask(textMask). */
  crossLayer(i: number, x: Tensor, selfMask: Tensor, c: CrossAttentionContext): Tensor {
    const layer = this.layer.at(i);
    const graph = layer.hypergraph ? { nodes: tf.concat([c.nodesImage, x], 1), nodeMask: c.nodeMask, modality: c.modality, textOffset: c.imageTokens } : null;
    return layer.forwardWithGraph(x, selfMask, c.image, c.encMask, graph);
  }

  forward(input: FusionInput): Tensor {
    const { text, textMask, image } = input;
    if (text.shape[2] !== this.width) throw new ShapeError(`fusion: text width ${text.shape[2]} ≠ fusion width ${this.width}`);
    return tf.tidy(() => {
      if (this.cfg.attention === "cross") {
        const c = this.crossContext(image, textMask, input.imageMask);
        const selfMask = additiveMask(textMask);
        let x = text;
        for (let i = 0; i < this.layer.length; i++) x = this.crossLayer(i, x, selfMask, c);
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
        const graph = layer.hypergraph ? { nodes: seq, nodeMask, modality, textOffset: 0 } : null;
        seq = layer.forwardWithGraph(seq, seqMask, undefined, undefined, graph);
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
}
