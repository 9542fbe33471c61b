/**
 * One rank's stream of raw samples for an epoch: shards in `shardOrder`,
 * samples read in the main thread, a shuffle buffer, and an exact,
 * serialisable position. A position restores the buffer's contents (by
 * re-reading those samples) and the reading point, so a resumed epoch yields
 * the very samples the uninterrupted one would have, in the same order.
 */
import { PolyalignError } from "../../errors.ts";
import { Rng, type RngState } from "../../tensor/rng.ts";
import { type ErrorPolicy, type ReadProblem, readShard } from "../webdataset/reader.ts";
import type { WdsSample } from "../webdataset/samples.ts";
import { ShuffleBuffer } from "./shuffle-buffer.ts";
import { shardOrder, type ShardOrder, type ShardOrderOptions } from "./shard-order.ts";

/** Where a sample lives: pass, shard cursor within that pass, sample index within the shard, and which of its copies (per-caption samples; 0 otherwise). */
export type SampleRef = [pass: number, cursor: number, index: number, copy?: number];

export interface StreamPosition {
  epoch: number;
  pass: number;
  cursor: number;
  /** samples of shard `cursor` already read */
  inShard: number;
  /** copies of the next sample of shard `cursor` already read (per-caption samples) */
  copy?: number;
  /** samples emitted this epoch */
  emitted: number;
  buffer: SampleRef[];
  rng: RngState;
}

export interface SampleStreamOptions extends ShardOrderOptions {
  shards: readonly string[];
  /** shuffle buffer size (1 = no shuffling) */
  shuffleBuffer?: number;
  /** samples in the buffer before the first leaves (default: size / 5, as open_clip) */
  shuffleInitial?: number;
  /** a fixed number of samples per epoch (passes repeat until it is reached); required with `resampled` */
  samplesPerEpoch?: number;
  onError?: ErrorPolicy;
  onProblem?: (p: ReadProblem) => void;
  /** a tar member above this many bytes makes its sample bad (default 64 MiB) */
  maxMemberBytes?: number;
  /**
   * how many training samples a shard sample is (per-caption samples: its
   * caption count); each copy is a sample of its own, shuffled apart; default 1
   */
  copies?: (s: WdsSample) => number;
}

export interface StreamSample extends WdsSample {
  ref: SampleRef;
  /** which copy of its shard sample this is (0 without `copies`) */
  copy: number;
  /** the mixture source it came from (`data.train: [{name, shards}]`) */
  source?: string;
}

export class SampleStream {
  private readonly size: number;
  private readonly initial: number;
  private pos: StreamPosition;
  private buffer!: ShuffleBuffer<StreamSample>;
  private rng!: Rng;
  private reader: AsyncGenerator<StreamSample> | null = null;
  private exhausted = false;
  private restored = false;

  constructor(
    private readonly opts: SampleStreamOptions,
    epoch: number,
    position?: StreamPosition,
  ) {
    if (opts.resampled && !opts.samplesPerEpoch) {
      throw new PolyalignError("resampled shards need samplesPerEpoch (the stream is otherwise endless)");
    }
    this.size = Math.max(1, opts.shuffleBuffer ?? 1);
    this.initial = Math.max(1, Math.min(this.size, opts.shuffleInitial ?? Math.ceil(this.size / 5)));
    if (position && position.epoch !== epoch) throw new PolyalignError(`position is for epoch ${position.epoch}, not ${epoch}`);
    const rngState = position?.rng ?? Rng.derive(opts.seed, `buffer:${epoch}:${opts.rank ?? 0}`).getState();
    this.pos = position ? structuredClone(position) : { epoch, pass: 0, cursor: 0, inShard: 0, emitted: 0, buffer: [], rng: rngState };
    this.rng = new Rng(this.pos.rng);
    this.buffer = new ShuffleBuffer(this.size, this.initial, this.rng);
    this.restored = !position || position.buffer.length === 0;
  }

  private order(pass: number): ShardOrder {
    return shardOrder(this.opts.shards, this.pos.epoch, pass, this.opts);
  }

  /** A snapshot to store in a checkpoint. */
  position(): StreamPosition {
    return { ...structuredClone(this.pos), buffer: this.buffer.items.map((s) => s.ref), rng: this.rng.getState() };
  }

  private readOptions() {
    return { onError: this.opts.onError, onProblem: this.opts.onProblem, maxMemberBytes: this.opts.maxMemberBytes };
  }

  private async *readFrom(): AsyncGenerator<StreamSample> {
    for (;;) {
      const order = this.order(this.pos.pass);
      let yielded = 0;
      while (this.pos.cursor < order.length) {
        const url = order.shardAt(this.pos.cursor);
        const skip = this.pos.inShard;
        let seen = 0;
        for await (const s of readShard(url, this.readOptions())) {
          if (seen++ < skip) continue;
          const copies = this.opts.copies ? this.copiesOf(s) : 1;
          for (let c = this.pos.copy ?? 0; c < copies; c++) {
            // the position names what is read: this sample's copies up to c, then the whole sample
            if (c + 1 < copies) this.pos.copy = c + 1;
            else {
              this.pos.inShard = seen;
              this.pos.copy = 0;
            }
            yielded++;
            // a pool hands a task's bytes to its worker (transferred, so gone here): each copy but the last gets its own
            const files = c + 1 < copies ? ownFiles(s.files) : s.files;
            yield { ...s, files, ref: [this.pos.pass, this.pos.cursor, s.index, c], copy: c };
          }
        }
        this.pos.cursor++;
        this.pos.inShard = 0;
        this.pos.copy = 0;
      }
      // A pass is over: another one only when a fixed epoch length asks for more.
      if (!this.opts.samplesPerEpoch || (yielded === 0 && this.pos.inShard === 0 && order.length !== Infinity)) return;
      this.pos.pass++;
      this.pos.cursor = 0;
    }
  }

  private copiesOf(s: WdsSample): number {
    const n = this.opts.copies?.(s) ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new PolyalignError(`${s.url}: sample ${s.key} counts ${n} copies (a positive integer expected)`);
    return n;
  }

  private async pull(): Promise<StreamSample | undefined> {
    if (this.exhausted) return undefined;
    this.reader ??= this.readFrom();
    const r = await this.reader.next();
    if (r.done) {
      this.exhausted = true;
      return undefined;
    }
    return r.value;
  }

  /** Re-read the samples a saved position had in its buffer. */
  private async restoreBuffer(): Promise<void> {
    const refs = this.pos.buffer;
    const byShard = new Map<string, Map<number, number[]>>();
    refs.forEach(([pass, cursor, index], slot) => {
      const k = `${pass}:${cursor}`;
      if (!byShard.has(k)) byShard.set(k, new Map());
      const slots = byShard.get(k)!;
      slots.set(index, [...(slots.get(index) ?? []), slot]);
    });
    const items = new Array<StreamSample | undefined>(refs.length);
    for (const [k, wanted] of byShard) {
      const [pass, cursor] = k.split(":").map(Number);
      const url = this.order(pass).shardAt(cursor);
      for await (const s of readShard(url, this.readOptions())) {
        for (const slot of wanted.get(s.index) ?? []) items[slot] = { ...s, ref: refs[slot], copy: refs[slot][3] ?? 0 };
      }
    }
    const missing = items.indexOf(undefined);
    if (missing >= 0) throw new PolyalignError(`cannot resume: sample ${JSON.stringify(refs[missing])} of the saved shuffle buffer is gone (shards changed?)`);
    for (const it of items) this.buffer.add(it as StreamSample);
    this.restored = true;
  }

  /** The next sample of the epoch, or undefined at its end. */
  async next(): Promise<StreamSample | undefined> {
    if (!this.restored) await this.restoreBuffer();
    const limit = this.opts.samplesPerEpoch;
    if (limit !== undefined && this.pos.emitted >= limit) return undefined;
    for (;;) {
      if (!this.exhausted) {
        const s = await this.pull();
        if (s) {
          this.buffer.add(s);
          if (this.buffer.items.length < this.size) {
            const s2 = await this.pull();
            if (s2) this.buffer.add(s2);
          }
          if (!this.buffer.ready()) continue;
        }
      }
      const out = this.buffer.take();
      if (out === undefined) {
        if (limit !== undefined && this.pos.emitted < limit) {
          throw new PolyalignError(`the shards hold no samples (epoch ${this.pos.epoch} needs ${limit})`);
        }
        return undefined;
      }
      this.pos.emitted++;
      return out;
    }
  }
}

function ownFiles(files: Record<string, Uint8Array>): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.slice()]));
}
