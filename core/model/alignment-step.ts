/**
 * One training step of a VisionLanguageModel with its objectives, split the
 * way the gradient tape needs it: `prepare()` (momentum update, then each
 * objective's work without gradient), `loss()` under the tape (the weighted
 * sum of the objectives' losses), `finish()` after the optimiser step. The
 * step is the objectives' `StepContext`: the batch, the momentum and online
 * encodings (computed once), the embedding head's similarities, the step's
 * random stream, fixed draws and the recorder of reference intermediates.
 */
import { ShapeError } from "../errors.ts";
import type { IntArray, MicroPosition, Objective, StepBatch, StepContext, StepRecorder } from "../registry/kinds/objective.ts";
import type { SpecialTokenIds } from "../registry/kinds/tokenizer.ts";
import { Rng } from "../tensor/rng.ts";
import { SINGLE_PROCESS, sumOverRanks, type World } from "../distributed/world.ts";
import { tf, type Tensor } from "../tensor/tf.ts";
import type { VisionLanguageModel } from "./vision-language-model.ts";

export interface AlignmentStepOptions {
  alpha: number;
  rng: Rng;
  /** the optimizer step (0-based) this micro-step belongs to; default 0 */
  step?: number;
  /** its place in the optimizer step under gradient accumulation; default: first and last */
  micro?: MicroPosition;
  special: SpecialTokenIds;
  vocabSize: number;
  /**
   * the per-row streams (`StepContext.rowRng`): row i draws from `seed` and `offset + i`,
   * its index in the whole batch of every process and micro-batch of the step; default:
   * a seed drawn from `rng` when first needed, offset 0
   */
  rows?: { seed: number; offset: number };
  /** the processes of a data-parallel run (`gatherRows`); default: this one alone */
  world?: World;
  /** draws the caller fixes instead of sampling (reference checks), by name */
  fixed?: ReadonlyMap<string, Int32Array>;
  /** receives every intermediate the objectives report, under the names of ALBEF's reference fixture */
  record?: StepRecorder;
}

export class AlignmentStep implements StepContext {
  readonly size: number;
  readonly length: number;
  readonly tokenIds: Int32Array;
  private readonly kept: Tensor[] = [];
  private imageM: Tensor | null = null;
  private textM: Tensor | null = null;
  private pass: { imageEmbeds: Tensor; textEmbeds: Tensor; sims?: { i2t: Tensor; t2i: Tensor } } | null = null;

  constructor(
    readonly model: VisionLanguageModel,
    readonly batch: StepBatch,
    private readonly opts: AlignmentStepOptions,
  ) {
    [this.size, this.length] = batch.ids.shape as [number, number];
    if (batch.imageIds && batch.imageIds.length !== this.size) throw new ShapeError(`${batch.imageIds.length} image ids for a batch of ${this.size}`);
    this.tokenIds = batch.ids.dataSync() as Int32Array;
  }

  get alpha(): number {
    return this.opts.alpha;
  }
  get rng(): Rng {
    return this.opts.rng;
  }
  get step(): number {
    return this.opts.step ?? 0;
  }
  get micro(): MicroPosition {
    return this.opts.micro ?? { first: true, last: true };
  }
  private rowSeed: number | null = null;

  rowRng(row: number, purpose: string): Rng {
    if (!Number.isInteger(row) || row < 0 || row >= this.size) throw new ShapeError(`row ${row} is not in the batch (0..${this.size - 1})`);
    this.rowSeed ??= this.opts.rows?.seed ?? this.opts.rng.nextUint32();
    return Rng.derive(this.rowSeed, `${purpose}:${(this.opts.rows?.offset ?? 0) + row}`);
  }
  gatherRows(rows: Tensor): Tensor {
    const world = this.opts.world ?? SINGLE_PROCESS;
    if (world.size === 1) return rows;
    const send = rows.dataSync() as Float32Array;
    const recv = new Float32Array(send.length * world.size);
    world.allgatherNow(send, recv);
    return tf.tensor(recv, [(rows.shape[0] as number) * world.size, ...rows.shape.slice(1)]);
  }

  get processes(): number {
    return (this.opts.world ?? SINGLE_PROCESS).size;
  }

  sumOverRanks(values: readonly number[]): number[] {
    const world = this.opts.world ?? SINGLE_PROCESS;
    return world.size === 1 ? [...values] : sumOverRanks(world, values);
  }

  gatherIds(ids: Int32Array): Int32Array {
    const world = this.opts.world ?? SINGLE_PROCESS;
    if (world.size === 1) return ids;
    const recv = new Int32Array(ids.length * world.size);
    world.allgatherNow(ids, recv);
    return recv;
  }

  get special(): SpecialTokenIds {
    return this.opts.special;
  }
  get vocabSize(): number {
    return this.opts.vocabSize;
  }
  private get objectives(): readonly Objective[] {
    return this.model.objectives;
  }

  keep<T extends Tensor>(t: T): T {
    this.kept.push(tf.keep(t));
    return t;
  }

  fixed(name: string): Int32Array | undefined {
    return this.opts.fixed?.get(name);
  }

  record(name: string, value: Tensor | IntArray | number): void {
    this.opts.record?.(name, value);
  }

  momentumImage(): Tensor {
    this.imageM ??= this.keep(tf.tidy(() => this.model.encodeImage(this.batch.images, true)));
    return this.imageM;
  }

  momentumText(): Tensor {
    this.textM ??= this.keep(tf.tidy(() => this.model.encodeText(this.batch.ids, this.batch.mask, true)));
    return this.textM;
  }

  online(): { imageEmbeds: Tensor; textEmbeds: Tensor } {
    if (!this.pass) throw new ShapeError("the online encodings exist inside loss() only");
    return this.pass;
  }

  similarities(): { i2t: Tensor; t2i: Tensor } {
    const pass = this.pass;
    if (!pass) throw new ShapeError("similarities exist inside loss() only");
    pass.sims ??= this.model.requireEmbedding("this step's similarities").similarities(this);
    return pass.sims;
  }

  /** The momentum copies follow their online weights (once per optimizer step), then every objective prepares (no gradient). */
  prepare(): void {
    if (this.micro.first) this.model.momentumUpdate();
    this.record("alpha", this.alpha);
    for (const o of this.objectives) if (o.prepare) tf.tidy(() => o.prepare?.(this));
    if (this.imageM) this.record("image_embeds_m", this.imageM);
    if (this.textM) this.record("text_embeds_m", this.textM);
  }

  /**
   * Σ weight · loss over the objectives, in config order; call under the tape.
   * `parts` receives each objective's unweighted loss by name.
   */
  loss(parts: Record<string, number> = {}): tf.Scalar {
    const imageEmbeds = this.model.encodeImage(this.batch.images);
    const textEmbeds = this.model.encodeText(this.batch.ids, this.batch.mask);
    this.record("image_embeds", imageEmbeds);
    this.record("text_embeds", textEmbeds);
    this.pass = { imageEmbeds, textEmbeds };
    try {
      const terms = this.objectives.map((o) => {
        const l = o.loss(this);
        parts[o.name] = l.dataSync()[0];
        return tf.mul(l, o.weight);
      });
      return tf.addN(terms) as tf.Scalar;
    } finally {
      // the tape owns this pass's tensors
      this.pass = null;
    }
  }

  /** After the optimiser step: each objective's finish, then what prepare kept is freed. */
  finish(): void {
    try {
      for (const o of this.objectives) o.finish?.(this);
    } finally {
      this.release();
    }
  }

  /** Free what prepare kept without finishing (a step abandoned by an error). */
  release(): void {
    tf.dispose(this.kept);
    this.kept.length = 0;
    this.imageM = null;
    this.textM = null;
  }
}
