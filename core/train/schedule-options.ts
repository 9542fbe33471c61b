/** Task options every training task shares: the schedule, initial weights, momentum distillation. */
import { z } from "zod";

/** The schedule options of every training task (`epochs` defaults per task). */
export function scheduleOptions(epochs: number) {
  return {
    epochs: z.number().int().positive().default(epochs),
    /** total optimiser steps (default: epochs × steps per epoch); 0 trains nothing — the task evaluates its initial weights (`polyalign eval`) */
    steps: z.number().int().min(0).optional(),
    checkpointEvery: z.number().int().min(0).default(1000),
    keepCheckpoints: z.number().int().positive().default(2),
    logEvery: z.number().int().positive().default(10),
    /** steps over which distillation α ramps up (default: the first epoch, as ALBEF) */
    alphaRampSteps: z.number().int().min(0).optional(),
  };
}

/** Pre-trained weights to start from: a run folder, a checkpoint folder or a safetensors file (polyalign or ALBEF names); null = from scratch. */
export const initOption = () => z.string().min(1).nullable().default(null);

/**
 * The image-text tasks' initial weights: a checkpoint as `initOption`, or parts —
 * `{vision: a timm/DeiT ViT, text: an HF BERT}` (ALBEF's start of pre-training),
 * with or without a `checkpoint` under them; null = from scratch.
 */
export const partsInitOption = () =>
  z
    .union([
      z.string().min(1),
      z
        .strictObject({ checkpoint: z.string().min(1).optional(), vision: z.string().min(1).optional(), text: z.string().min(1).optional() })
        .refine((p) => p.checkpoint || p.vision || p.text, "init: name a checkpoint, or vision and/or text weights"),
    ])
    .nullable()
    .default(null);

/** Momentum distillation (ALBEF's `distill`, α, and the EMA rate of the momentum model). */
export function distillOptions() {
  return {
    /** distill from the momentum model's prediction (ALBEF's `distill: True`) */
    distill: z.boolean().default(true),
    alpha: z.number().min(0).max(1).default(0.4),
    momentum: z.number().min(0).max(1).default(0.995),
  };
}
