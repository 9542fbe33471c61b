/**
 * What the ALBEF-style tasks (pretrain, retrieval fine-tuning) share: building
 * the model from the objectives' options, and the training loop — batches from
 * the worker pool, one PretrainStep per micro-batch, the objectives' weighted
 * losses under the tape, the Trainer's accumulation, schedule, checkpoints
 * and resume.
 */
import { join } from "node:path";
import {
  buildPretrainModel,
  ConfigError,
  type DataConfig,
  expandShardSpec,
  latestCheckpoint,
  loadCheckpoint,
  type Objective,
  type OptimConfig,
  type PretrainModel,
  PretrainStep,
  Rng,
  type RunContext,
  type StreamPosition,
  tf,
  Tokenizer,
  Trainer,
} from "../../core/index.ts";
import { countSamples, openPool, trainBatches } from "./pretrain-data.ts";

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
  const tokenizer = scope.resolve(Tokenizer);
  await tokenizer.init?.();
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

export interface TrainingSchedule {
  epochs: number;
  steps?: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  logEvery: number;
  alphaRampSteps?: number;
}

export interface TrainingOptions {
  /** image ids of a batch's samples (fine-tuning); none in pre-training */
  imageIds?: (keys: readonly string[]) => Int32Array;
  /** clamp the temperature each step (ALBEF pre-training does, fine-tuning does not) */
  clampTemp?: boolean;
}

export interface TrainingOutcome {
  trainer: Trainer;
  trainSeconds: number;
  stepsPerEpoch: number | null;
  skippedSamples: number;
  checkpoint: string | null;
}

export async function trainAlbef(ctx: RunContext, setup: AlbefSetup, data: DataConfig, optim: OptimConfig, schedule: TrainingSchedule, options: TrainingOptions = {}): Promise<TrainingOutcome> {
  const { scope, runDir } = ctx;
  const { config, log } = scope;
  const { model, objectives, itc, mlm, tokenizer } = setup;
  const shards = expandShardSpec(data.train);
  const samplesPerEpoch = data.samplesPerEpoch ?? countSamples(shards);
  const microPerEpoch = samplesPerEpoch === null ? null : Math.floor(samplesPerEpoch / data.batchSize);
  const stepsPerEpoch = microPerEpoch === null ? null : Math.max(1, Math.floor(microPerEpoch / optim.accumulate));
  if (schedule.steps === undefined && stepsPerEpoch === null) {
    throw new ConfigError("cannot tell how many steps an epoch has (no sizes.json beside the shards): set task.steps or data.samplesPerEpoch", "task.steps");
  }
  const totalSteps = schedule.steps ?? schedule.epochs * (stepsPerEpoch as number);
  const rampSteps = schedule.alphaRampSteps ?? stepsPerEpoch ?? 0;
  const rng = Rng.derive(config.seed, "trainer");
  const trainer = new Trainer(model, [...model.trainable()], {
    runDir,
    optim,
    totalSteps,
    checkpointEvery: schedule.checkpointEvery,
    keepCheckpoints: schedule.keepCheckpoints,
    logEvery: schedule.logEvery,
    log,
    rng,
    config,
  });
  let position: StreamPosition | undefined;
  if (ctx.resume) {
    const dir = latestCheckpoint(runDir);
    if (!dir) throw new ConfigError(`--resume: no checkpoint in ${join(runDir, "checkpoints")}`, "");
    const state = loadCheckpoint(dir, model, trainer.optimizer);
    trainer.restore(state);
    position = (state.data as StreamPosition | null) ?? undefined;
    ctx.out(`resumed from ${dir} (step ${state.step}, epoch ${state.epoch})`);
  }
  const needs = { itc: objectives.some((o) => o.name === "itc"), itm: objectives.some((o) => o.name === "itm"), mlm: !!mlm };
  let skipped = 0;
  const onProblem = (p: { shard: string; key: string; reason: string }) => {
    if (++skipped <= 20) log.warn(`skipped sample ${p.key} of ${p.shard}: ${p.reason}`);
  };
  const t0 = performance.now();
  const pool = await openPool(config, data, "train", data.workers);
  const vars = [...model.trainable()];
  // the hypergraph fusion reports the fraction of hyperedges holding both modalities
  const fusionStats = model.fusion as unknown as { collectStats?: (on: boolean) => void; stats?: () => Record<string, number> };
  fusionStats.collectStats?.(true);
  try {
    while (!trainer.done) {
      const epoch = trainer.epoch;
      let microInEpoch = 0;
      for await (const batch of trainBatches(data, shards, pool, config.seed, epoch, tokenizer.special.pad, position, onProblem)) {
        position = undefined;
        if (trainer.done) break;
        trainer.beginMicroStep();
        const baseAlpha = itc?.options?.alpha ?? 0.4;
        const alpha = epoch === 0 && rampSteps > 0 ? baseAlpha * Math.min(1, trainer.step / rampSteps) : baseAlpha;
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
        Object.assign(parts, fusionStats.stats?.() ?? {});
        const byName: Record<string, tf.Tensor> = {};
        // parameters no objective reaches (the MLM head without `mlm`) get no gradient and, as in PyTorch, no update
        for (const [name, v] of vars) if (grads[v.name]) byName[name] = grads[v.name];
        step.finish();
        tf.dispose([images, ids, mask]);
        trainer.addMicroStep({ loss, parts, grads: byName }, batch.batch, batch.position);
        microInEpoch++;
      }
      if (trainer.done) break;
      if (microInEpoch === 0) throw new ConfigError(`epoch ${epoch} produced no batch (fewer samples than data.batchSize?)`, "data.batchSize");
      trainer.epoch++;
    }
  } finally {
    await pool.close();
    fusionStats.collectStats?.(false);
  }
  const checkpoint = trainer.checkpoint();
  return { trainer, trainSeconds: (performance.now() - t0) / 1000, stepsPerEpoch, skippedSamples: skipped, checkpoint };
}
