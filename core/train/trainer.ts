/**
 * The optimisation loop shared by tasks: gradient accumulation, optional
 * global-norm clipping, the warm-up + cosine schedule, AdamW, a NaN/Inf guard
 * that stops before a bad update (the last good checkpoint stays), metrics as
 * JSON lines, progress, and checkpoints every N steps.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { PolyalignError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Module } from "../tensor/module.ts";
import { dropoutSeeds } from "../tensor/layers.ts";
import { adaptGcToKernels } from "../tensor/gc-threads.ts";
import type { Rng } from "../tensor/rng.ts";
import { tf, type Tensor, type Variable } from "../tensor/tf.ts";
import { AdamW } from "./adamw.ts";
import { saveCheckpoint, type TrainerState } from "./checkpoints.ts";
import { GradientAverager, type ReduceTiming } from "../distributed/gradient-buckets.ts";
import { DistributedError, gatherJson, SINGLE_PROCESS, sumOverRanks, type World } from "../distributed/world.ts";
import { Progress } from "./progress.ts";
import { learningRate, type OptimConfig } from "./schedule.ts";
import type { MicroPosition } from "../registry/kinds/objective.ts";

export class TrainingDivergedError extends PolyalignError {}

/** One micro-batch's outcome: its loss, the figures for metrics.jsonl, its gradients. */
export interface MicroStepResult {
  loss: number;
  /** per-objective losses and other per-step figures */
  parts: Record<string, number>;
  /** by parameter name (the trainer disposes them); parameters no loss reaches are absent and get no update, as in PyTorch */
  grads: Record<string, Tensor>;
}

export interface TrainerOptions {
  /** the processes of a data-parallel run: gradients averaged over them, metrics and checkpoints written by rank 0; default: alone */
  world?: World;
  runDir: string;
  optim: OptimConfig;
  totalSteps: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  logEvery: number;
  log: Logger;
  rng: Rng;
  config: unknown;
}

export interface StepInfo {
  step: number;
  epoch: number;
  lr: number;
}

export class Trainer {
  readonly optimizer: AdamW;
  step = 0;
  epoch = 0;
  samples = 0;
  private readonly progress: Progress;
  private readonly metricsFile: string;
  private readonly started = performance.now();
  private pending: Record<string, Tensor> | null = null;
  private micro = 0;

  /** the next micro-batch's index in its optimizer step (0 … accumulate − 1) */
  get microIndex(): number {
    return this.micro;
  }

  /** where the next micro-batch sits in its optimizer step (gradient accumulation) */
  get microPosition(): MicroPosition {
    return { first: this.micro === 0, last: this.micro === this.opts.optim.accumulate - 1 };
  }
  private accLoss: { loss: number; parts: Record<string, number> } = { loss: 0, parts: {} };
  lastState: TrainerState | null = null;
  readonly world: World;
  private readonly averager: GradientAverager;

  constructor(
    readonly model: Module,
    readonly params: [string, Variable][],
    readonly opts: TrainerOptions,
  ) {
    this.world = opts.world ?? SINGLE_PROCESS;
    const parameters = params.reduce((n, [, v]) => n + v.size, 0);
    if (adaptGcToKernels(parameters)) opts.log.debug(`V8 marks on the main thread: the kernels use more than one thread for ${parameters} parameters`);
    this.averager = new GradientAverager(
      this.world,
      params.map(([name, v]) => ({ name, shape: v.shape })),
    );
    this.optimizer = new AdamW(params, {
      lr: opts.optim.lr,
      weightDecay: opts.optim.weightDecay,
      beta1: opts.optim.beta1,
      beta2: opts.optim.beta2,
      eps: opts.optim.eps,
    });
    if (this.world.isMain) mkdirSync(opts.runDir, { recursive: true });
    this.metricsFile = join(opts.runDir, "metrics.jsonl");
    this.progress = new Progress(opts.totalSteps, opts.log, opts.logEvery);
  }

  /** seconds, bytes and calls of the last step's gradient all-reduce (0 alone) */
  get lastReduce(): ReduceTiming {
    return this.averager.last;
  }

  /** the gradient all-reduces of this process so far: seconds and bytes in all, over `steps` optimizer steps */
  readonly reduceTotals = { seconds: 0, bytes: 0, steps: 0, buckets: 0 };

  get done(): boolean {
    return this.step >= this.opts.totalSteps;
  }

  /** Seed dropout for the next micro-step from the trainer's RNG (reproducible across resumes). */
  beginMicroStep(): StepInfo {
    dropoutSeeds.beginStep(this.opts.rng.nextUint32());
    return { step: this.step, epoch: this.epoch, lr: learningRate(this.step, this.opts.totalSteps, this.opts.optim) };
  }

  /**
   * Add one micro-batch's gradients; every `accumulate` of them an optimiser
   * step happens (in a data-parallel run, with the gradients averaged over the
   * ranks; the losses reported are the ranks' mean, so every rank takes the same
   * decisions). Resolves to true when it did.
   */
  async addMicroStep(r: MicroStepResult, batchSize: number, dataPosition: unknown): Promise<boolean> {
    dropoutSeeds.end();
    if (this.world.size > 1) {
      const keys = Object.keys(r.parts).sort();
      const sums = sumOverRanks(this.world, [r.loss, ...keys.map((k) => r.parts[k])]);
      r = { ...r, loss: sums[0] / this.world.size, parts: Object.fromEntries(keys.map((k, i) => [k, sums[i + 1] / this.world.size])) };
    }
    const bad = !Number.isFinite(r.loss) || Object.values(r.parts).some((v) => !Number.isFinite(v));
    if (bad) {
      tf.dispose(Object.values(r.grads));
      this.dropPending();
      this.progress.end();
      throw new TrainingDivergedError(
        `loss is not finite at step ${this.step} (loss ${r.loss}, ${Object.entries(r.parts)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}); ` + `training stopped before the update — the last checkpoint in ${join(this.opts.runDir, "checkpoints")} is the last good state`,
      );
    }
    const acc = this.opts.optim.accumulate;
    if (!this.pending) this.pending = r.grads;
    else {
      const next: Record<string, Tensor> = {};
      for (const [k, g] of Object.entries(r.grads)) {
        next[k] = this.pending[k] ? tf.add(this.pending[k], g) : tf.clone(g);
      }
      tf.dispose([...Object.values(this.pending), ...Object.values(r.grads)]);
      this.pending = next;
    }
    this.accLoss.loss += r.loss / acc;
    for (const [k, v] of Object.entries(r.parts)) this.accLoss.parts[k] = (this.accLoss.parts[k] ?? 0) + v / acc;
    this.samples += batchSize * this.world.size;
    if (++this.micro < acc) return false;
    await this.applyUpdate(dataPosition);
    return true;
  }

  private dropPending(): void {
    if (this.pending) tf.dispose(Object.values(this.pending));
    this.pending = null;
    this.micro = 0;
  }

  private async applyUpdate(dataPosition: unknown): Promise<void> {
    const grads = await this.averager.average(this.pending as Record<string, Tensor>);
    this.pending = grads;
    if (this.world.size > 1) {
      this.reduceTotals.seconds += this.averager.last.seconds;
      this.reduceTotals.bytes += this.averager.last.bytes;
      this.reduceTotals.buckets = this.averager.last.calls;
      this.reduceTotals.steps++;
    }
    const acc = this.opts.optim.accumulate;
    const lr = learningRate(this.step, this.opts.totalSteps, this.opts.optim);
    const scaled = tf.tidy(() => {
      let g = grads;
      if (acc > 1) g = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, tf.div(v, acc)]));
      const norm = Math.sqrt(
        Object.values(g)
          .map((v) => tf.tidy(() => tf.sum(tf.square(v)).dataSync()[0]))
          .reduce((a, b) => a + b, 0),
      );
      if (!Number.isFinite(norm)) return { g, norm };
      const clip = this.opts.optim.clip;
      if (clip > 0 && norm > clip) g = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, tf.mul(v, clip / norm)]));
      for (const v of Object.values(g)) tf.keep(v);
      return { g, norm };
    });
    if (!Number.isFinite(scaled.norm)) {
      if (scaled.g !== grads) tf.dispose(Object.values(scaled.g));
      this.dropPending();
      this.progress.end();
      throw new TrainingDivergedError(`gradient norm is not finite at step ${this.step}; stopped before the update (last good checkpoint kept)`);
    }
    this.optimizer.apply(scaled.g, lr);
    if (scaled.g !== grads) tf.dispose(Object.values(scaled.g));
    this.dropPending();
    this.step++;
    const elapsed = (performance.now() - this.started) / 1000;
    const losses = { loss: this.accLoss.loss, ...this.accLoss.parts };
    if (this.world.isMain) {
      appendFileSync(
        this.metricsFile,
        JSON.stringify({
          step: this.step,
          epoch: this.epoch,
          samples: this.samples,
          lr,
          grad_norm: scaled.norm,
          elapsed_s: Math.round(elapsed * 1000) / 1000,
          ...(this.world.size > 1 ? { allreduce_s: Math.round(this.averager.last.seconds * 1e4) / 1e4 } : {}),
          ...losses,
        }) + "\n",
      );
      this.progress.update(this.step, { samplesPerSec: this.samples / Math.max(elapsed, 1e-9), elapsed, losses, lr });
    }
    this.accLoss = { loss: 0, parts: {} };
    this.lastState = await this.state(dataPosition);
    if (this.opts.checkpointEvery > 0 && this.step % this.opts.checkpointEvery === 0 && !this.done) this.checkpoint();
  }

  /** The state to resume from; in a data-parallel run every rank's random state and data position are gathered into it (a collective: every rank calls it). */
  async state(dataPosition: unknown): Promise<TrainerState> {
    const rng = this.opts.rng.getState();
    const ranks = this.world.size > 1 ? await gatherJson(this.world, { rng, data: dataPosition }) : undefined;
    return {
      step: this.step,
      epoch: this.epoch,
      samples: this.samples,
      rng,
      data: dataPosition,
      config: this.opts.config,
      savedAt: new Date().toISOString(),
      ...(ranks ? { ranks } : {}),
    };
  }

  /** Rank 0 writes the last step's checkpoint (the others: null). Its state was gathered with the step, so this is no collective. */
  checkpoint(): string | null {
    if (!this.lastState || !this.world.isMain) return null;
    return saveCheckpoint(this.opts.runDir, this.model, this.optimizer, this.lastState, this.opts.keepCheckpoints);
  }

  /** Continue from a checkpoint's trainer state (model and optimizer already loaded): this rank's random state. */
  restore(state: TrainerState): void {
    this.step = state.step;
    this.epoch = state.epoch;
    this.samples = state.samples;
    this.opts.rng.setState(this.world.size > 1 ? rankState(state, this.world).rng : state.rng);
    this.lastState = state;
  }

  /** Ends the progress line (a run stopped early, or failed). */
  endProgress(): void {
    this.progress.end();
  }

  dispose(): void {
    this.progress.end();
    this.dropPending();
    this.optimizer.dispose();
  }
}

/** This rank's part of a checkpoint's state; a checkpoint of another number of processes is refused. */
export function rankState(state: TrainerState, world: World): { rng: TrainerState["rng"]; data: unknown } {
  const n = state.ranks?.length ?? 1;
  if (n !== world.size)
    throw new DistributedError(
      `the checkpoint was written by ${n} process${n === 1 ? "" : "es"}, this run has ${world.size}: resume with as many (each rank's data position is its own)`,
    );
  return state.ranks ? state.ranks[world.rank] : { rng: state.rng, data: state.data };
}
