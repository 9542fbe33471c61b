/**
 * The training loop the tasks share: batches from the worker pool, a
 * task-defined micro-step (forward, loss, gradients), the Trainer's
 * accumulation, schedule, checkpoints and resume, the α ramp of momentum
 * distillation over the first epoch.
 */
import { join, relative } from "node:path";
import type { ImageTextBatch } from "../data/pipeline/batch-loader.ts";
import type { DataConfig } from "../data/pipeline/data-config.ts";
import { DroppedSamples, type DroppedSummary } from "../data/pipeline/dropped-samples.ts";
import { openPool, samplesPerTrainingEpoch, trainBatches, trainSources } from "../data/pipeline/loaders.ts";
import type { DataPosition } from "../data/pipeline/mixture-stream.ts";
import { ConfigError, InterruptedError } from "../errors.ts";
import type { RunContext } from "../run/run-context.ts";
import type { Module } from "../tensor/module.ts";
import { Rng } from "../tensor/rng.ts";
import type { Tensor, Variable } from "../tensor/tf.ts";
import { type BestModel, latestCheckpoint, loadCheckpoint, readBestModel, saveBestModel } from "./checkpoints.ts";
import type { OptimConfig } from "./schedule.ts";
import { truncateMetrics } from "./resume.ts";
import { type StopSignal, StopSignals } from "./stop-signals.ts";
import { type MicroStepResult, Trainer } from "./trainer.ts";
import type { MicroPosition } from "../registry/kinds/objective.ts";

export interface TrainingSchedule {
  epochs: number;
  steps?: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  logEvery: number;
  alphaRampSteps?: number;
}

export interface TrainingOutcome {
  trainer: Trainer;
  trainSeconds: number;
  stepsPerEpoch: number | null;
  /** the training samples and shards that could not be used: by kind of reason ("has no image member", ".jpg: cannot decode the image", …), shards apart */
  skipped: DroppedSummary;
  /** a mixture's training samples by source, in this process (null: one source) */
  samplesBySource: Record<string, number> | null;
  /** the validation scores and the best model, when the task selects one */
  selection: SelectionOutcome | null;
  checkpoint: string | null;
  /** optimizer steps this process ran (fewer than trainer.step after --resume) */
  stepsRun: number;
  /** the process's largest resident set size seen after a micro-step, bytes */
  peakRssBytes: number;
}

export interface TrainingLoopSpec {
  model: Module;
  trainable: [string, Variable][];
  padId: number;
  /** full distillation weight α, ramped from 0 over the first epoch (or `schedule.alphaRampSteps`) */
  alpha: number;
  /**
   * one micro-batch's forward, loss and gradients; `step` is the optimizer step (0-based) it
   * belongs to, `micro` whether it opens or closes that step (what runs once per step: the momentum update, the queues)
   */
  microStep: (batch: ImageTextBatch, alpha: number, rng: Rng, step: number, micro: MicroPosition, rows: RowStreams) => MicroStepResult;
  /** extra figures per step (e.g. the hypergraph's bimodal fraction) */
  stepStats?: () => Record<string, number>;
  /**
   * model selection, ALBEF's way: after every epoch score the model on the
   * validation split (higher is better) and keep the best weights in
   * `<runDir>/best/`; the task then evaluates its test split once, with them
   */
  selection?: ModelSelection;
}

/** Where a micro-batch's per-row streams come from (AlignmentStep's `rows`): one seed per micro-step, rows numbered over the whole step. */
export interface RowStreams {
  seed: number;
  /** the micro-batch's first row in the step's rows */
  offset: number;
}

/** The per-row streams of micro-batch `micro` of optimizer step `step`: the same on resume, whatever the padding. */
export function rowStreams(seed: number, step: number, micro: number, batchSize: number): RowStreams {
  return { seed: Rng.derive(seed, `rows:${step}:${micro}`).nextUint32(), offset: micro * batchSize };
}

export interface ModelSelection {
  /** what the score is, for the log and summary ("val ITM mean recall") */
  metric: string;
  evaluate: () => Promise<number>;
}

export interface SelectionOutcome {
  metric: string;
  best: BestModel | null;
  /** the validation score after each epoch of this process */
  byEpoch: { epoch: number; step: number; score: number }[];
}

export async function runTrainingLoop(
  ctx: RunContext,
  data: DataConfig,
  optim: OptimConfig,
  schedule: TrainingSchedule,
  spec: TrainingLoopSpec,
): Promise<TrainingOutcome> {
  const { scope, runDir } = ctx;
  const { config, log } = scope;
  const sources = trainSources(data);
  const samplesPerEpoch = samplesPerTrainingEpoch(data, sources);
  const microPerEpoch = samplesPerEpoch === null ? null : Math.floor(samplesPerEpoch / data.batchSize);
  const stepsPerEpoch = microPerEpoch === null ? null : Math.max(1, Math.floor(microPerEpoch / optim.accumulate));
  if (schedule.steps === undefined && stepsPerEpoch === null) {
    throw new ConfigError(
      `cannot tell how many steps an epoch has (no ${data.captions === "each" ? "pairs.json" : "sizes.json"} beside the shards): set task.steps or data.samplesPerEpoch`,
      "task.steps",
    );
  }
  const totalSteps = schedule.steps ?? schedule.epochs * (stepsPerEpoch as number);
  const rampSteps = schedule.alphaRampSteps ?? stepsPerEpoch ?? 0;
  const rng = Rng.derive(config.seed, "trainer");
  const trainer = new Trainer(spec.model, spec.trainable, {
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
  let position: DataPosition | undefined;
  if (ctx.resume) {
    const dir = latestCheckpoint(runDir);
    if (!dir) throw new ConfigError(`--resume: no checkpoint in ${join(runDir, "checkpoints")}`, "");
    const state = loadCheckpoint(dir, spec.model, trainer.optimizer);
    trainer.restore(state);
    const cut = truncateMetrics(join(runDir, "metrics.jsonl"), state.step);
    if (cut > 0) log.info(`metrics.jsonl: ${cut} line(s) after step ${state.step} removed; those steps run again`);
    position = (state.data as DataPosition | null) ?? undefined;
    ctx.out(`resumed from ${dir} (step ${state.step}, epoch ${state.epoch})`);
  }
  const samplesBySource: Record<string, number> = {};
  const skipped = new DroppedSamples(log, "training");
  const t0 = performance.now();
  const firstStep = trainer.step;
  let peakRssBytes = process.memoryUsage().rss;
  const selection: SelectionOutcome | null = spec.selection
    ? { metric: spec.selection.metric, best: ctx.resume ? readBestModel(runDir) : null, byEpoch: [] }
    : null;
  const select = async (epoch: number) => {
    if (!spec.selection || !selection) return;
    const score = await spec.selection.evaluate();
    selection.byEpoch.push({ epoch, step: trainer.step, score });
    const better = selection.best === null || score > selection.best.score;
    if (better) selection.best = saveBestModel(runDir, spec.model, { epoch, step: trainer.step, score, metric: spec.selection.metric });
    log.info(
      `epoch ${epoch}: ${spec.selection.metric} ${score.toFixed(2)}${better ? " — best so far, kept" : ` (best ${selection.best?.score.toFixed(2)} at epoch ${selection.best?.epoch})`}`,
      {
        epoch,
        score,
      },
    );
  };
  const pool = await openPool(scope, data, "train", data.workers);
  const signals = new StopSignals(log);
  try {
    while (!trainer.done) {
      const epoch = trainer.epoch;
      // a checkpoint written after an epoch's last step resumes at that epoch's end: no batch is left in it
      const resumedInEpoch = position !== undefined;
      let microInEpoch = 0;
      for await (const batch of trainBatches(data, sources, pool, config.seed, epoch, spec.padId, position, skipped)) {
        position = undefined;
        if (trainer.done) break;
        trainer.beginMicroStep();
        const alpha = epoch === 0 && rampSteps > 0 ? spec.alpha * Math.min(1, trainer.step / rampSteps) : spec.alpha;
        const rows = rowStreams(config.seed, trainer.step, trainer.microIndex, data.batchSize);
        const r = spec.microStep(batch, alpha, rng, trainer.step, trainer.microPosition, rows);
        Object.assign(r.parts, spec.stepStats?.() ?? {});
        trainer.addMicroStep(r, batch.batch, batch.position);
        peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
        microInEpoch++;
        if (sources.length > 1) for (const src of batch.sources) samplesBySource[src] = (samplesBySource[src] ?? 0) + 1;
        if (signals.requested && trainer.microPosition.first) throw interrupted(trainer, signals.requested, runDir);
      }
      position = undefined;
      if (microInEpoch > 0) await select(epoch);
      if (trainer.done) break;
      if (microInEpoch === 0 && !resumedInEpoch)
        throw new ConfigError(`epoch ${epoch} produced no batch (fewer samples than data.batchSize?)`, "data.batchSize");
      trainer.epoch++;
    }
  } finally {
    signals.dispose();
    await pool.close();
  }
  const checkpoint = trainer.checkpoint();
  return {
    trainer,
    trainSeconds: (performance.now() - t0) / 1000,
    stepsPerEpoch,
    skipped: skipped.summary(),
    samplesBySource: sources.length > 1 ? samplesBySource : null,
    selection,
    checkpoint,
    stepsRun: trainer.step - firstStep,
    peakRssBytes,
  };
}

/** After a stop signal, between optimizer steps: the checkpoint of the step just finished, and the error that ends the run. */
function interrupted(trainer: Trainer, signal: StopSignal, runDir: string): InterruptedError {
  const dir = trainer.checkpoint();
  return new InterruptedError(
    dir
      ? `stopped by ${signal} after step ${trainer.step}; checkpoint ${relative(runDir, dir)} written in ${runDir}: --resume continues the run`
      : `stopped by ${signal} before the first step finished; nothing to save`,
    signal,
  );
}

/** The tape's gradients by parameter name; parameters no loss reaches get none (and, as in PyTorch, no update). */
export function gradsByName(vars: [string, Variable][], grads: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, v] of vars) if (grads[v.name]) out[name] = grads[v.name];
  return out;
}
