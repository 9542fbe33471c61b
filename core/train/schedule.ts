/**
 * Learning rate by step: linear warm-up from `warmupLr` to `lr` over
 * `warmupSteps`, then cosine from `lr` to `minLr` over the remaining steps
 * (or constant). ALBEF steps its cosine per epoch; per step is the smooth
 * version of the same curve.
 */
import { z } from "zod";

export const OptimConfig = z.strictObject({
  name: z.literal("adamw").default("adamw"),
  lr: z.number().positive().default(1e-4),
  minLr: z.number().min(0).default(1e-5),
  warmupLr: z.number().min(0).default(1e-5),
  warmupSteps: z.number().int().min(0).default(2000),
  schedule: z.enum(["cosine", "constant"]).default("cosine"),
  weightDecay: z.number().min(0).default(0.02),
  beta1: z.number().gt(0).lt(1).default(0.9),
  beta2: z.number().gt(0).lt(1).default(0.999),
  eps: z.number().gt(0).default(1e-8),
  /** clip the global gradient norm to this (0 = off, ALBEF's setting) */
  clip: z.number().min(0).default(0),
  /** micro-batches per optimiser step */
  accumulate: z.number().int().min(1).default(1),
  /** module paths whose parameters are not trained (`visual_encoder`, `text_encoder.layer.0`); see frozen.ts */
  freeze: z.array(z.string().min(1)).default([]),
});
export type OptimConfig = z.output<typeof OptimConfig>;

export function learningRate(step: number, totalSteps: number, o: OptimConfig): number {
  if (step < o.warmupSteps) return o.warmupLr + ((o.lr - o.warmupLr) * step) / Math.max(1, o.warmupSteps);
  if (o.schedule === "constant") return o.lr;
  const span = Math.max(1, totalSteps - o.warmupSteps);
  const t = Math.min(1, (step - o.warmupSteps) / span);
  return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * t));
}
