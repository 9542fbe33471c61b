import { type PluginRegistry, TextEncoder, VisionEncoder } from "../../core/index.ts";
import { BertConfig, BertTextEncoder } from "./bert.ts";
import { VitConfig, VitEncoder } from "./vit.ts";

export function registerEncoders(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: VisionEncoder,
    name: "vit",
    schema: VitConfig,
    description: "ViT (ALBEF/timm): fused qkv, pre-norm, eps 1e-6, exact GELU",
    create: (cfg, ctx) => new VitEncoder(cfg, ctx.rng),
  });
  registry.registerPlugin({
    kind: TextEncoder,
    name: "bert",
    schema: BertConfig,
    description: "BERT text encoder (post-norm, eps 1e-12, token-type-0 added)",
    create: (cfg, ctx) => new BertTextEncoder(cfg, ctx.rng),
  });
}
