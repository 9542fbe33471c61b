/**
 * The built-in fusion plugins: one layered fusion (layered-fusion.ts), three
 * arrangements of it — ALBEF's cross-attention, merged self-attention, and
 * the paper's hypergraph branch (hypergraph/) beside either attention.
 */
import { Fusion, type PluginContext, type PluginRegistry } from "../../core/index.ts";
import { resolveFusionDims } from "./dims.ts";
import { LayeredFusion } from "./layered-fusion.ts";
import { FusionBaseOptions, HypergraphFusionOptions } from "./options.ts";

export function registerFusion(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Fusion,
    name: "cross-attention",
    schema: FusionBaseOptions,
    description: "ALBEF fusion: self-attention, cross-attention to image tokens, FFN",
    create: (cfg, ctx) => attentionOnly(cfg, ctx, "cross"),
  });
  registry.registerPlugin({
    kind: Fusion,
    name: "hypergraph",
    schema: HypergraphFusionOptions,
    description: "attention + a hypergraph branch (kNN and k-means hyperedges over image and text tokens) fused per token",
    create: (cfg, ctx) => new LayeredFusion(cfg, resolveFusionDims(cfg, ctx), ctx.rng),
  });
  registry.registerPlugin({
    kind: Fusion,
    name: "merged-attention",
    schema: FusionBaseOptions,
    description: "self-attention over the concatenation [image; text], FFN",
    create: (cfg, ctx) => attentionOnly(cfg, ctx, "merged"),
  });
}

/** `cross-attention` and `merged-attention`: the layered fusion with no hypergraph layer. */
function attentionOnly(cfg: FusionBaseOptions, ctx: PluginContext, attention: "cross" | "merged"): LayeredFusion {
  return new LayeredFusion(HypergraphFusionOptions.parse({ ...cfg, attention, hypergraphLayers: [] }), resolveFusionDims(cfg, ctx), ctx.rng);
}
