/**
 * What the ALBEF-style tasks (pretrain, retrieval fine-tuning) share: building
 * the model from the objectives' options, and their micro-step in the shared
 * training loop — one PretrainStep per micro-batch, the objectives' weighted
 * losses under the tape.
 */
import {
  buildPretrainModel,
  ConfigError,
  type DataConfig,
  type Objective,
  type OptimConfig,
  type PretrainModel,
  PretrainStep,
  type RunContext,
  type InitialWeightsReport,
  loadInitialWeights,
  tf,
  Tokenizer,
  readyTokenizer,
  gradsByName,
  runTrainingLoop,
  type TrainingOutcome,
  type TrainingSchedule,
  MOMENTUM_ENTRY,
} from "../../core/index.ts";

export interface ItcOptions {
  queue?: number;
  momentum?: number;
  alpha?: number;
  temp?: number;
  embedDim?: number;
  pooling?: { image: "cls" | "mean"; text: "cls" | "mean" };
}

export type StepObjective = Objective<PretrainStep> & { options?: ItcOptions; probability?: number };

export interface AlbefSetup {
  objectives: StepObjective[];
  itc?: StepObjective;
  mlm?: StepObjective;
  model: PretrainModel;
  tokenizer: Tokenizer;
}

/** The objectives of the config and a model shaped by the ITC objective's options. */
export async function setUpAlbef(ctx: RunContext, data: DataConfig, what: string, extra: { idQueue?: boolean } = {}): Promise<AlbefSetup> {
  const { scope } = ctx;
  const tokenizer = await readyTokenizer(ctx);
  const objectives = scope.objectives() as unknown as StepObjective[];
  if (objectives.length === 0) throw new ConfigError(`${what} needs at least one objective (objectives: [{name: itc}, ...])`, "objectives");
  const itc = objectives.find((o) => o.name === "itc");
  const mlm = objectives.find((o) => o.name === "mlm");
  const model = buildPretrainModel(scope, {
    embedDim: itc?.options?.embedDim ?? 256,
    queueSize: itc?.options?.queue ?? data.batchSize,
    momentum: itc?.options?.momentum ?? 0.995,
    temp: itc?.options?.temp ?? 0.07,
    pooling: itc?.options?.pooling,
    idQueue: extra.idQueue,
  });
  const textVocab = model.text_encoder.vocabSize ?? Infinity;
  if (tokenizer.vocabSize > textVocab) {
    model.dispose();
    throw new ConfigError(`model.text.vocab (${textVocab}) is smaller than the tokenizer's vocabulary (${tokenizer.vocabSize})`, "model.text.vocab");
  }
  if (model.opts.queueSize > 0 && model.opts.queueSize % data.batchSize !== 0) {
    model.dispose();
    throw new ConfigError(`the ITC queue (${model.opts.queueSize}) must be a multiple of data.batchSize (${data.batchSize})`, "objectives.itc.queue");
  }
  return { objectives, itc, mlm, model, tokenizer };
}

export interface TrainingOptions {
  /** image ids of a batch's samples (fine-tuning); none in pre-training */
  imageIds?: (keys: readonly string[]) => Int32Array;
  /** clamp the temperature each step (ALBEF pre-training does, fine-tuning does not) */
  clampTemp?: boolean;
}

/** ALBEF's pre-training / retrieval step in the shared loop: one PretrainStep per micro-batch, the objectives' weighted losses. */
export async function trainAlbef(ctx: RunContext, setup: AlbefSetup, data: DataConfig, optim: OptimConfig, schedule: TrainingSchedule, options: TrainingOptions = {}): Promise<TrainingOutcome> {
  const { model, objectives, itc, mlm, tokenizer } = setup;
  const needs = { itc: objectives.some((o) => o.name === "itc"), itm: objectives.some((o) => o.name === "itm"), mlm: !!mlm };
  const vars = [...model.trainable()];
  // the hypergraph fusion reports the fraction of hyperedges holding both modalities
  const fusionStats = model.fusion as unknown as { collectStats?: (on: boolean) => void; stats?: () => Record<string, number> };
  fusionStats.collectStats?.(true);
  try {
    return await runTrainingLoop(ctx, data, optim, schedule, {
      model,
      trainable: vars,
      padId: tokenizer.special.pad,
      alpha: itc?.options?.alpha ?? 0.4,
      stepStats: () => fusionStats.stats?.() ?? {},
      microStep: (batch, alpha, rng) => {
        const images = tf.tensor4d(batch.images, [batch.batch, 3, batch.size, batch.size]);
        const ids = tf.tensor2d(batch.ids, [batch.batch, batch.length], "int32");
        const mask = tf.tensor2d(batch.mask, [batch.batch, batch.length], "int32");
        const step = new PretrainStep(model, { images, ids, mask }, {
          alpha,
          rng,
          special: tokenizer.special,
          vocabSize: tokenizer.vocabSize,
          mlmProbability: mlm?.probability ?? 0.15,
          needs,
          imageIds: options.imageIds?.(batch.keys),
          clampTemp: options.clampTemp,
        });
        step.prepare();
        const parts: Record<string, number> = {};
        const { value, grads } = tf.variableGrads(() => {
          const terms = objectives.map((o) => {
            const l = o.compute(step).loss;
            parts[o.name] = l.dataSync()[0];
            return tf.mul(l, o.weight);
          });
          step.endPass();
          return tf.addN(terms) as tf.Scalar;
        }, vars.map(([, v]) => v));
        const loss = value.dataSync()[0];
        value.dispose();
        step.finish();
        tf.dispose([images, ids, mask]);
        return { loss, parts, grads: gradsByName(vars, grads) };
      },
    });
  } finally {
    fusionStats.collectStats?.(false);
  }
}

/**
 * An ALBEF model shaped by the config's objectives with weights from `init`
 * (a pre-training or retrieval run, checkpoint or file), in eval mode — what
 * the evaluation-only tasks (grounding, binding) start from. Queues sized for
 * another run are re-initialised; they play no part in evaluation.
 */
export async function loadAlbefForEvaluation(ctx: RunContext, data: DataConfig, what: string, init: string): Promise<AlbefSetup & { file: string }> {
  const setup = await setUpAlbef(ctx, data, what, { idQueue: true });
  const r = loadAlbefWeights(ctx, setup.model, init);
  ctx.out(`weights: ${r.loaded.length} tensors from ${r.file}`);
  setup.model.eval();
  return { ...setup, file: r.file };
}

/**
 * Pre-trained or fine-tuned ALBEF-model weights into `model`: polyalign's
 * checkpoints, ALBEF's pre-training state dict, or ALBEF's fine-tuned
 * retrieval/grounding checkpoints — which lack the MLM head, and when
 * released also the momentum copies and queues (ALBEF issue #21): those stay
 * fresh, and the momentum copies start from the loaded online weights.
 */
export function loadAlbefWeights(ctx: RunContext, model: PretrainModel, init: string): InitialWeightsReport {
  const r = loadInitialWeights(model, init, {
    fusionStart: Number(ctx.scope.config.model?.text.layers ?? 0),
    optional: (n) => QUEUE_ENTRIES.has(n) || n === "temp" || /^text_encoder(_m)?\.cls\./.test(n) || MOMENTUM_ENTRY.test(n),
    reinitOnMismatch: (n) => QUEUE_ENTRIES.has(n),
  });
  if (r.fresh.some((n) => MOMENTUM_ENTRY.test(n))) {
    model.copyToMomentum();
    ctx.scope.log.info(`${r.file} has no momentum copies: they start from the loaded weights`);
  }
  return r;
}

/** The feature queues and their pointers: re-initialised when a checkpoint's are sized for another run. */
export const QUEUE_ENTRIES: ReadonlySet<string> = new Set(["image_queue", "text_queue", "queue_ptr", "idx_queue"]);
