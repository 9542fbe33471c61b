/**
 * Several sources' sample streams as one (`data.train: [{shards, weight}]`):
 * each next sample comes from source i with probability weight_i / Σ weight
 * (a seeded draw), from that source's own shuffled stream; a source that runs
 * out starts its next pass (its own shard order and buffer), so the shares
 * hold for any weights. The epoch ends after `samplesPerEpoch` samples. With
 * weights proportional to the sources' pairs (the default), an epoch is one
 * pass over each, as ALBEF's concatenated data sets are. The position is
 * every source's position and pass, the draw's random state and the count.
 */
import { PolyalignError } from "../../errors.ts";
import { Rng, type RngState } from "../../tensor/rng.ts";
import { SampleStream, type SampleStreamOptions, type StreamPosition, type StreamSample } from "./sample-stream.ts";

export interface MixtureSource {
  name: string;
  shards: string[];
  weight: number;
}

export interface MixturePosition {
  kind: "mixture";
  epoch: number;
  emitted: number;
  rng: RngState;
  sources: { pass: number; position: StreamPosition }[];
}

/** What the batch loader pulls from: one stream or a mixture. */
export interface SampleSource {
  next(): Promise<StreamSample | undefined>;
  position(): StreamPosition | MixturePosition;
}

export type DataPosition = StreamPosition | MixturePosition;

export function isMixturePosition(p: DataPosition): p is MixturePosition {
  return (p as MixturePosition).kind === "mixture";
}

export class MixtureStream implements SampleSource {
  private readonly rng: Rng;
  private readonly streams: SampleStream[];
  private readonly passes: number[];
  private emitted: number;

  constructor(
    private readonly sources: readonly MixtureSource[],
    private readonly opts: Omit<SampleStreamOptions, "shards" | "samplesPerEpoch" | "resampled">,
    private readonly epoch: number,
    private readonly samplesPerEpoch: number,
    position?: MixturePosition,
  ) {
    if (sources.length === 0) throw new PolyalignError("a mixture needs at least one source");
    const bad = sources.find((s) => !(s.weight > 0) || !Number.isFinite(s.weight));
    if (bad) throw new PolyalignError(`mixture source ${bad.name}: weight must be a positive number (got ${bad.weight})`);
    if (position && (position.epoch !== epoch || position.sources.length !== sources.length))
      throw new PolyalignError(
        `the saved mixture position is for epoch ${position.epoch} with ${position.sources.length} sources, not epoch ${epoch} with ${sources.length}`,
      );
    this.rng = position ? new Rng(position.rng) : Rng.derive(opts.seed, `mixture:${epoch}:${opts.rank ?? 0}`);
    this.emitted = position?.emitted ?? 0;
    this.passes = sources.map((_, i) => position?.sources[i].pass ?? 0);
    this.streams = sources.map((_, i) => this.open(i, position?.sources[i].position));
  }

  /** Source i's stream in its current pass: its own seed per (source, pass), the epoch's shard order within it. */
  private open(i: number, position?: StreamPosition): SampleStream {
    const seed = Rng.derive(this.opts.seed, `mixture-source:${this.sources[i].name}:${this.passes[i]}`).nextUint32();
    return new SampleStream({ ...this.opts, seed, shards: this.sources[i].shards }, this.epoch, position);
  }

  private pick(): number {
    const total = this.sources.reduce((a, s) => a + s.weight, 0);
    let u = this.rng.uniform() * total;
    for (let i = 0; i < this.sources.length; i++) {
      u -= this.sources[i].weight;
      if (u < 0) return i;
    }
    return this.sources.length - 1;
  }

  async next(): Promise<StreamSample | undefined> {
    if (this.emitted >= this.samplesPerEpoch) return undefined;
    const i = this.pick();
    let s = await this.streams[i].next();
    if (!s) {
      this.passes[i]++;
      this.streams[i] = this.open(i);
      s = await this.streams[i].next();
      if (!s) throw new PolyalignError(`mixture source ${this.sources[i].name} has no samples (${this.sources[i].shards.join(", ")})`);
    }
    this.emitted++;
    return { ...s, source: this.sources[i].name };
  }

  position(): MixturePosition {
    return {
      kind: "mixture",
      epoch: this.epoch,
      emitted: this.emitted,
      rng: this.rng.getState(),
      sources: this.streams.map((st, i) => ({ pass: this.passes[i], position: st.position() })),
    };
  }
}
