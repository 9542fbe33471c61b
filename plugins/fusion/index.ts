import { Fusion, type PluginRegistry } from "../../core/index.ts";
import { CrossAttentionConfig, CrossAttentionFusion, resolveFusionDims } from "./cross-attention.ts";

export function registerFusion(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Fusion,
    name: "cross-attention",
    schema: CrossAttentionConfig,
    description: "ALBEF fusion: self-attention, cross-attention to image tokens, FFN",
    create: (cfg, ctx) => new CrossAttentionFusion(cfg, resolveFusionDims(cfg, ctx), ctx.rng),
  });
}
