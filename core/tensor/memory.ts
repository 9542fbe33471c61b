/**
 * Leak guard: a training step that leaves tensors behind makes
 * `tf.memory().numTensors` grow; this measures that across steps.
 */
import { tf } from "./tf.ts";
import { PolyalignError } from "../errors.ts";

export class TensorLeakError extends PolyalignError {}

export interface LeakReport {
  counts: number[];
  /** tensors gained per step after warm-up (0 when flat) */
  growthPerStep: number;
}

/**
 * Run `step` warmup + steps times and report the tensor count after each.
 * Warm-up steps may create lasting state (optimizer moments, caches).
 */
export async function measureTensorGrowth(step: (i: number) => void | Promise<void>, steps = 5, warmup = 1): Promise<LeakReport> {
  for (let i = 0; i < warmup; i++) await step(i);
  const counts = [tf.memory().numTensors];
  for (let i = 0; i < steps; i++) {
    await step(warmup + i);
    counts.push(tf.memory().numTensors);
  }
  const growthPerStep = (counts[counts.length - 1] - counts[0]) / steps;
  return { counts, growthPerStep };
}

/** Throws a TensorLeakError naming the counts when the tensor count is not flat. */
export async function assertNoTensorLeak(step: (i: number) => void | Promise<void>, steps = 5, warmup = 1): Promise<LeakReport> {
  const report = await measureTensorGrowth(step, steps, warmup);
  const first = report.counts[0];
  if (report.counts.some((c) => c !== first)) {
    throw new TensorLeakError(
      `tensor count is not flat over ${steps} steps: ${report.counts.join(" → ")} ` + `(${report.growthPerStep.toFixed(1)} tensors leaked per step)`,
    );
  }
  return report;
}
