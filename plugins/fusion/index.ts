import { Fusion, LayeredFusion, type PluginContext, type PluginRegistry, resolveFusionDims } from "../../core/index.ts";
import { CrossAttentionConfig } from "./cross-attention.ts";
import { HypergraphFusionConfig, layeredFusionOptions, MergedAttentionConfig } from "./hypergraph.ts";

export function registerFusion(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Fusion,
    name: "cross-attention",
    schema: CrossAttentionConfig,
    description: "ALBEF fusion: self-attention, cross-attention to image tokens, FFN",
    create: (cfg, ctx) => attentionOnly(cfg, ctx, "cross"),
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
    create: (cfg, ctx) => attentionOnly(cfg, ctx, "merged"),
  });
}

/** `cross-attention` and `merged-attention`: the layered fusion with no hypergraph layer. */
function attentionOnly(cfg: Parameters<typeof resolveFusionDims>[0], ctx: PluginContext, attention: "cross" | "merged"): LayeredFusion {
  const options = layeredFusionOptions(HypergraphFusionConfig.parse({ ...cfg, attention, hypergraphLayers: [] }));
  return new LayeredFusion(options, resolveFusionDims(cfg, ctx), ctx.rng);
}
