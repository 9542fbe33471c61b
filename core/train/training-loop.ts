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
import { type MicroStepResult, rankState, Trainer } from "./trainer.ts";
import { broadcastState } from "../distributed/broadcast-state.ts";
import { compareRankStates, type RankStates } from "../distributed/state-hash.ts";
import { SINGLE_PROCESS, sumOverRanks, type World } from "../distributed/world.ts";
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
  /** a data-parallel run's check that every rank ends with the same state (null alone) */
  rankStates: RankStates | null;
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

/**
 * The per-row streams of micro-batch `micro` of optimizer step `step`: the same on resume,
 * whatever the padding; in a data-parallel run the rows are numbered over every rank's
 * batches (micro-batch by micro-batch, rank by rank), so N ranks of batch B/N draw what
 * one process of batch B would.
 */
export function rowStreams(seed: number, step: number, micro: number, batchSize: number, world: World = SINGLE_PROCESS): RowStreams {
  return { seed: Rng.derive(seed, `rows:${step}:${micro}`).nextUint32(), offset: (micro * world.size + world.rank) * batchSize };
}

/** [every rank has a batch, some rank was asked to stop] — one tiny all-reduce per micro-step in a data-parallel run. */
function agree(world: World, haveBatch: boolean, stopRequested: boolean): [boolean, boolean] {
  if (world.size === 1) return [haveBatch, stopRequested];
  const [have, stop] = sumOverRanks(world, [haveBatch ? 1 : 0, stopRequested ? 1 : 0]);
  return [have === world.size, stop > 0];
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
  const world = ctx.world ?? SINGLE_PROCESS;
  const sources = trainSources(data);
  const samplesPerEpoch = samplesPerTrainingEpoch(data, sources);
  // each rank reads its share of the shards: an epoch is the ranks' batches side by side
  const microPerEpoch = samplesPerEpoch === null ? null : Math.floor(samplesPerEpoch / world.size / data.batchSize);
  const stepsPerEpoch = microPerEpoch === null ? null : Math.max(1, Math.floor(microPerEpoch / optim.accumulate));
  if (schedule.steps === undefined && stepsPerEpoch === null) {
    throw new ConfigError(
      `cannot tell how many steps an epoch has (no ${data.captions === "each" ? "pairs.json" : "sizes.json"} beside the shards): set task.steps or data.samplesPerEpoch`,
      "task.steps",
    );
  }
  const totalSteps = schedule.steps ?? schedule.epochs * (stepsPerEpoch as number);
  const rampSteps = schedule.alphaRampSteps ?? stepsPerEpoch ?? 0;
  // each rank its own draws (dropout, negatives), rank 0 those of a run alone
  const rng = Rng.derive(config.seed, world.rank === 0 ? "trainer" : `trainer:rank${world.rank}`);
  const trainer = new Trainer(spec.model, spec.trainable, {
    world,
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
    if (world.isMain) {
      const cut = truncateMetrics(join(runDir, "metrics.jsonl"), state.step);
      if (cut > 0) log.info(`metrics.jsonl: ${cut} line(s) after step ${state.step} removed; those steps run again`);
    }
    position = (rankState(state, world).data as DataPosition | null) ?? undefined;
    ctx.out(`resumed from ${dir} (step ${state.step}, epoch ${state.epoch})`);
  }
  if (world.size > 1) {
    // every rank starts from rank 0's weights (and, resumed, its optimizer state: the same file on every rank)
    await broadcastState(world, spec.model);
    log.info(
      `data-parallel: ${world.size} processes × batch ${data.batchSize}${optim.accumulate > 1 ? ` × ${optim.accumulate} micro-batches` : ""} = ` +
        `${world.size * data.batchSize * optim.accumulate} samples per step, lr ${optim.lr}` +
        `${samplesPerEpoch !== null ? `, ${samplesPerEpoch} samples per epoch in all` : ""}`,
    );
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
    // rank 0 scores and keeps the best; the others go on (they meet it at the next step's all-reduce)
    if (!spec.selection || !selection || !world.isMain) return;
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
  // no steps (an evaluation of the initial weights): no data workers either
  const pool = totalSteps > 0 ? await openPool(scope, data, "train", data.workers) : null;
  const signals = new StopSignals(log);
  try {
    while (pool && !trainer.done) {
      const epoch = trainer.epoch;
      // a checkpoint written after an epoch's last step resumes at that epoch's end: no batch is left in it
      const resumedInEpoch = position !== undefined;
      let microInEpoch = 0;
      const batches = trainBatches(data, sources, pool, config.seed, epoch, spec.padId, position, skipped, world);
      for (;;) {
        const next = await batches.next();
        // ranks go on together: the epoch ends for all when one runs out of data, a stop signal stops all at the same step
        const [haveBatch, stop] = agree(world, !next.done, signals.requested !== null && trainer.microPosition.first);
        if (stop) {
          await batches.return(undefined);
          throw interrupted(trainer, signals.requested ?? "SIGTERM", runDir);
        }
        if (!haveBatch) {
          if (!next.done) await batches.return(undefined);
          break;
        }
        const batch = next.value as ImageTextBatch;
        position = undefined;
        if (trainer.done) break;
        trainer.beginMicroStep();
        const alpha = epoch === 0 && rampSteps > 0 ? spec.alpha * Math.min(1, trainer.step / rampSteps) : spec.alpha;
        const rows = rowStreams(config.seed, trainer.step, trainer.microIndex, data.batchSize, world);
        const r = spec.microStep(batch, alpha, rng, trainer.step, trainer.microPosition, rows);
        Object.assign(r.parts, spec.stepStats?.() ?? {});
        await trainer.addMicroStep(r, batch.batch, batch.position);
        peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
        microInEpoch++;
        if (sources.length > 1) for (const src of batch.sources) samplesBySource[src] = (samplesBySource[src] ?? 0) + 1;
      }
      position = undefined;
      if (microInEpoch > 0) await select(epoch);
      if (trainer.done) break;
      if (microInEpoch === 0 && !resumedInEpoch)
        throw new ConfigError(`epoch ${epoch} produced no batch (fewer samples than data.batchSize?)`, "data.batchSize");
      trainer.epoch++;
    }
  } finally {
    trainer.endProgress();
    signals.dispose();
    await pool?.close();
  }
  const checkpoint = trainer.checkpoint();
  let rankStates: RankStates | null = null;
  if (world.size > 1) {
    rankStates = await compareRankStates(world, spec.model);
    if (rankStates.identical) log.info(`ranks agree: ${world.size} identical states (${rankStates.entries} tensors, hash ${rankStates.hashes[0]})`);
    else log.error(`the ranks' states differ after training (hashes ${rankStates.hashes.join(", ")}): a defect in data-parallel training — please report it`);
  }
  return {
    rankStates,
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
  if (!trainer.world.isMain) return new InterruptedError(`stopped by ${signal} after step ${trainer.step} (rank 0 writes the checkpoint)`, signal);
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
