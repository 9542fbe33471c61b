/**
 * ALBEF's three pre-training objectives as plugins. Their options carry the
 * settings ALBEF keeps beside each loss (queue size, momentum, temperature,
 * distillation α for ITC; masking probability for MLM); the math lives in
 * core's PretrainStep, which prepares what each needs without gradient.
 */
import { z } from "zod";
import type { Objective, PretrainStep, Tensor } from "../../core/index.ts";

export const ItcConfig = z.strictObject({
  weight: z.number().min(0).default(1),
  /** feature queue length (a multiple of the batch size; 0 = in-batch negatives only) */
  queue: z.number().int().min(0).default(65536),
  /** EMA factor of the momentum encoders */
  momentum: z.number().min(0).max(1).default(0.995),
  /** momentum-distillation weight α (ramped up over the first epoch) */
  alpha: z.number().min(0).max(1).default(0.4),
  /** initial temperature (learnable, clamped to [0.001, 0.5]) */
  temp: z.number().min(0.001).max(0.5).default(0.07),
  /** projection width of the contrastive features */
  embedDim: z.number().int().positive().default(256),
  /**
   * sequence → vector for ITC and ITM: ALBEF's CLS rows (default), or the mean
   * of valid tokens, which trains from scratch much faster (see the demo config)
   */
  pooling: z.strictObject({ image: z.enum(["cls", "mean"]).default("cls"), text: z.enum(["cls", "mean"]).default("cls") }).default({ image: "cls", text: "cls" }),
});
export type ItcConfig = z.output<typeof ItcConfig>;

export const ItmConfig = z.strictObject({
  weight: z.number().min(0).default(1),
  /** `hard`: negatives drawn ∝ the ITC similarities (ALBEF); `random`: uniform (the paper's "w/o hard negatives" ablation) */
  negatives: z.enum(["hard", "random"]).default("hard"),
});
export type ItmConfig = z.output<typeof ItmConfig>;
export const MlmConfig = z.strictObject({
  weight: z.number().min(0).default(1),
  probability: z.number().gt(0).lt(1).default(0.15),
});

export class ItcObjective implements Objective<PretrainStep> {
  readonly name = "itc";
  constructor(readonly options: ItcConfig) {}
  get weight(): number {
    return this.options.weight;
  }
  compute(step: PretrainStep): { loss: Tensor } {
    return { loss: step.itcLoss() };
  }
}

export class ItmObjective implements Objective<PretrainStep> {
  readonly name = "itm";
  constructor(readonly options: ItmConfig) {}
  get weight(): number {
    return this.options.weight;
  }
  compute(step: PretrainStep): { loss: Tensor } {
    return { loss: step.itmLoss(this.options.negatives) };
  }
}

export class MlmObjective implements Objective<PretrainStep> {
  readonly name = "mlm";
  constructor(
    readonly weight: number,
    readonly probability: number,
  ) {}
  compute(step: PretrainStep): { loss: Tensor } {
    return { loss: step.mlmLoss() };
  }
}
