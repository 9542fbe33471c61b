/** Widths a fusion plugin needs, defaulting to the configured encoders' (resolved through the run container). */
import { type PluginContext, TextEncoder, VisionEncoder } from "../../core/index.ts";

export interface ResolvedFusionDims {
  width: number;
  visionWidth: number;
  intermediate: number;
}

export function resolveFusionDims(cfg: { width?: number; visionWidth?: number; intermediate?: number }, ctx: PluginContext): ResolvedFusionDims {
  const width = cfg.width ?? ctx.resolve(TextEncoder).width;
  const visionWidth = cfg.visionWidth ?? ctx.resolve(VisionEncoder).width;
  return { width, visionWidth, intermediate: cfg.intermediate ?? 4 * width };
}
