import { Fusion, LayeredFusion, type PluginRegistry, resolveFusionDims } from "../../core/index.ts";
import { CrossAttentionConfig } from "./cross-attention.ts";
import { HypergraphFusionConfig, layeredFusionOptions, MergedAttentionConfig } from "./hypergraph.ts";

export function registerFusion(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Fusion,
    name: "cross-attention",
    schema: CrossAttentionConfig,
    description: "ALBEF fusion: self-attention, cross-attention to image tokens, FFN",
    create: (cfg, ctx) =>
      new LayeredFusion(
        layeredFusionOptions(HypergraphFusionConfig.parse({ ...cfg, attention: "cross", hypergraphLayers: [] })),
        resolveFusionDims(cfg, ctx),
        ctx.rng,
      ),
  });
  registry.registerPlugin({
    kind: Fusion,
    name: "hypergraph",
    schema: HypergraphFusionConfig,
    description: "attention + a hypergraph branch (kNN and k-means hyperedges over image and text tokens) fused per token",
    create: (cfg, ctx) => new LayeredFusion(layeredFusionOptions(cfg), resolveFusionDims(cfg, ctx), ctx.rng),
  });
  registry.registerPlugin({
    kind: Fusion,
    name: "merged-attention",
    schema: MergedAttentionConfig,
    description: "self-attention over the concatenation [image; text], FFN",
    create: (cfg, ctx) =>
      new LayeredFusion(
        layeredFusionOptions(HypergraphFusionConfig.parse({ ...cfg, attention: "merged", hypergraphLayers: [] })),
        resolveFusionDims(cfg, ctx),
        ctx.rng,
      ),
  });
}
