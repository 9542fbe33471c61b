/**
 * Training a VisionLanguageModel with its objectives in the shared training
 * loop: one AlignmentStep per micro-batch (prepare, the weighted losses under
 * the tape, finish), the fusion's per-step figures in metrics.jsonl.
 */
import type { ImageTextBatch } from "../data/pipeline/batch-loader.ts";
import type { DataConfig } from "../data/pipeline/data-config.ts";
import { AlignmentStep } from "../model/alignment-step.ts";
import type { VisionLanguageModel } from "../model/vision-language-model.ts";
import type { Tokenizer } from "../registry/kinds/tokenizer.ts";
import type { RunContext } from "../run/run-context.ts";
import type { Rng } from "../tensor/rng.ts";
import { type Tensor, tf, type Variable } from "../tensor/tf.ts";
import { unfrozenParameters } from "./frozen.ts";
import type { OptimConfig } from "./schedule.ts";
import type { MicroStepResult } from "./trainer.ts";
import { gradsByName, type ModelSelection, type RowStreams, runTrainingLoop, type TrainingOutcome, type TrainingSchedule } from "./training-loop.ts";
import type { MicroPosition } from "../registry/kinds/objective.ts";
import type { World } from "../distributed/world.ts";

export interface AlignmentTrainingOptions {
  /** image id of each sample by its image key (`imageKeys`: the key, source-prefixed in a mixture; fine-tuning on galleries; the model's setting must say `imageIds`) */
  imageIds?: (keys: readonly string[]) => Int32Array;
  /** score the model on the validation split after each epoch and keep the best */
  selection?: ModelSelection;
  /** the processes of a data-parallel run (ITC's queues gather every rank's features) */
  world?: World;
}

/** One micro-batch: forward, the objectives' weighted losses and their gradients. */
export function alignmentMicroStep(
  model: VisionLanguageModel,
  vars: [string, Variable][],
  tokenizer: Tokenizer,
  batch: ImageTextBatch,
  alpha: number,
  rng: Rng,
  options: AlignmentTrainingOptions = {},
  stepIndex = 0,
  micro: MicroPosition = { first: true, last: true },
  rows?: RowStreams,
): MicroStepResult {
  const images = tf.tensor4d(batch.images, [batch.batch, 3, batch.size, batch.size]);
  const ids = tf.tensor2d(batch.ids, [batch.batch, batch.length], "int32");
  const mask = tf.tensor2d(batch.mask, [batch.batch, batch.length], "int32");
  const textNegatives = textNegativeTensors(batch);
  const step = new AlignmentStep(
    model,
    { images, ids, mask, imageIds: options.imageIds?.(imageKeys(batch)), textNegatives, tokenRegions: batch.regions ?? undefined },
    { alpha, rng, step: stepIndex, micro, rows, world: options.world, special: tokenizer.special, vocabSize: tokenizer.vocabSize },
  );
  try {
    step.prepare();
    const parts: Record<string, number> = {};
    const { value, grads } = tf.variableGrads(
      () => step.loss(parts),
      vars.map(([, v]) => v),
    );
    const loss = value.dataSync()[0];
    value.dispose();
    step.finish();
    return { loss, parts, grads: gradsByName(vars, grads) };
  } catch (e) {
    step.release();
    throw e;
  } finally {
    tf.dispose([images, ids, mask]);
    if (textNegatives) tf.dispose([textNegatives.ids, textNegatives.mask]);
  }
}

/**
 * What names each sample's image: its key, prefixed by its mixture source when
 * it has one — two sources may reuse keys (numeric ids), and their images are
 * not one image. One source keeps the bare key (the ids of earlier runs).
 */
export function imageKeys(batch: Pick<ImageTextBatch, "keys" | "sources">): string[] {
  return batch.keys.map((k, i) => (batch.sources[i] ? `${batch.sources[i]}/${k}` : k));
}

/** The batch's text negatives as [K, Ln] tensors over the K samples that have one. */
function textNegativeTensors(batch: ImageTextBatch): { ids: Tensor; mask: Tensor; rows: Int32Array } | undefined {
  const n = batch.negatives;
  if (!n) return undefined;
  const rows = Int32Array.from([...n.valid.keys()].filter((i) => n.valid[i] === 1));
  const pick = (a: Int32Array) => {
    const out = new Int32Array(rows.length * n.length);
    rows.forEach((r, k) => out.set(a.subarray(r * n.length, (r + 1) * n.length), k * n.length));
    return tf.tensor2d(out, [rows.length, n.length], "int32");
  };
  return { ids: pick(n.ids), mask: pick(n.mask), rows };
}

export async function trainAlignment(
  ctx: RunContext,
  model: VisionLanguageModel,
  tokenizer: Tokenizer,
  data: DataConfig,
  optim: OptimConfig,
  schedule: TrainingSchedule,
  options: AlignmentTrainingOptions = {},
): Promise<TrainingOutcome> {
  const vars = unfrozenParameters(model.trainable(), optim.freeze);
  model.fusion.collectStats?.(true);
  try {
    return await runTrainingLoop(ctx, data, optim, schedule, {
      model,
      trainable: vars,
      padId: tokenizer.special.pad,
      alpha: model.alpha,
      stepStats: () => model.fusion.stats?.() ?? {},
      microStep: (batch, alpha, rng, step, micro, rows) =>
        alignmentMicroStep(model, vars, tokenizer, batch, alpha, rng, { ...options, world: ctx.world }, step, micro, rows),
      selection: options.selection,
    });
  } finally {
    model.fusion.collectStats?.(false);
  }
}
