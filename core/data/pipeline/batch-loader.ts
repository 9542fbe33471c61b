/**
 * Samples → batches: pulls raw samples from the stream in the main thread,
 * keeps a bounded number in flight in the transform pool (backpressure),
 * puts the results back in stream order, drops and counts failed samples, and
 * collates `batchSize` good ones into one batch — images [B, 3, S, S], token
 * ids and masks [B, L] padded to the longest caption. Each batch carries the
 * stream position just after its last sample: save it with a checkpoint and a
 * resumed run continues with the next batch.
 */
import { DataError } from "../../errors.ts";
import { Rng } from "../../tensor/rng.ts";
import type { DataPosition, SampleSource } from "./mixture-stream.ts";
import type { SampleResult, WeightedAnswer } from "./sample-processor.ts";
import type { TransformPool } from "./transform-pool.ts";

export interface ImageTextBatch {
  /** [batch, imagesPerSample, 3, size, size] (the middle axis is absent when there is one image per sample) */
  images: Float32Array;
  imagesPerSample: number;
  /** [batch] class labels (−1 when the format names no label) */
  labels: Int32Array;
  /** per sample: the drawn question's answers with their weights (empty without `format.qa`) */
  answers: WeightedAnswer[][];
  /** [batch, length], padded with `padId` */
  ids: Int32Array;
  /** [batch, length], 1 = token */
  mask: Int32Array;
  batch: number;
  length: number;
  size: number;
  keys: string[];
  captions: string[];
  /** each sample's mixture source ("" from a single source) */
  sources: string[];
  /** the samples' text negatives (`format.negatives`), [batch, negativeLength] padded; `valid[i]` = 0 where sample i has none; null when the format names none */
  negatives: { ids: Int32Array; mask: Int32Array; length: number; valid: Uint8Array } | null;
  /** per token its image region [batch, length, 4] in the image's unit square, NaN where none (padding too); null when the format names no regions */
  regions: Float32Array | null;
  epoch: number;
  /** resume point: the stream position after this batch's last sample */
  position: DataPosition;
}

export interface LoaderProblem {
  shard: string;
  key: string;
  reason: string;
  /** the reason without the sample's address ("has no image member (.jpg/.png)"): what the counts group by */
  kind?: string;
}

export interface LoaderStats {
  pulled: number;
  delivered: number;
  failed: number;
}

export interface BatchLoaderOptions {
  batchSize: number;
  imageSize: number;
  padId: number;
  seed: number;
  epoch: number;
  /** tasks in flight in the pool (default: 4 per thread, at least 4) */
  maxInFlight?: number;
  /** the stream's copies of a sample are its captions (per-caption samples): copy c trains on caption c */
  perCaption?: boolean;
  /** a sample that cannot be made: `skip` (counted, reported, default) or `fail` (the run stops, naming shard, key and reason) */
  onError?: "skip" | "fail";
  /** stop when more than this share of the samples pulled so far (from 20 on) could not be made: data that is mostly bad */
  maxSkipFraction?: number;
  /** drop a last batch smaller than batchSize (default true) */
  dropLast?: boolean;
  onProblem?: (p: LoaderProblem) => void;
}

interface InFlight {
  result: Promise<SampleResult>;
  position: DataPosition;
  source: string;
}

/**
 * A sample's own seed: from the run seed, the epoch, the shard's last two path
 * segments (`synth/train-000000.tar`) and the key — not the full path, so that
 * a checkout elsewhere (or a mirror URL) trains on the same augmentations.
 */
export function sampleSeed(seed: number, epoch: number, url: string, key: string): number {
  const shard = url.split(/[?#]/)[0].split(/[\\/]/).filter(Boolean).slice(-2).join("/");
  return Rng.derive(seed, `sample:${epoch}:${shard}:${key}`).nextUint32();
}

/** A failure reason without the sample's address (`<url>: sample <key>` and `<url>: sample <key>.<ext>`) and without the decoder's detail, so that failures group by what went wrong. */
export function problemKind(reason: string, url: string, key: string): string {
  for (const head of [`${url}: sample ${key}.`, `${url}: sample ${key}`]) {
    if (reason.startsWith(head)) {
      const rest = reason.slice(head.length);
      const ext = head.endsWith(".") ? /^[^:\s]+/.exec(rest)?.[0] : undefined;
      return general((ext ? `.${ext}${rest.slice(ext.length)}` : rest).replace(/^[:\s]+/, ""));
    }
  }
  return general(reason);
}

/** The general part of a reason: its first line, up to the decoder's own detail (`.jpg: cannot read the image: Input buffer …` → `.jpg: cannot read the image`). */
function general(reason: string): string {
  const parts = reason.split("\n")[0].split(/:\s/);
  return (parts[0].startsWith(".") && parts.length > 1 ? `${parts[0]}: ${parts[1]}` : parts[0]).trim();
}

export class BatchLoader {
  readonly stats: LoaderStats = { pulled: 0, delivered: 0, failed: 0 };
  /** failed samples by kind of reason */
  readonly failedByKind = new Map<string, number>();
  /** samples made or failed so far */
  private results = 0;

  constructor(
    private readonly stream: SampleSource,
    private readonly pool: TransformPool,
    private readonly opts: BatchLoaderOptions,
  ) {}

  async *batches(): AsyncGenerator<ImageTextBatch> {
    const { batchSize, imageSize } = this.opts;
    const maxInFlight = this.opts.maxInFlight ?? Math.max(4, 4 * this.pool.threads);
    const queue: InFlight[] = [];
    let seq = 0;
    let ended = false;
    const fill = async () => {
      while (!ended && queue.length < maxInFlight) {
        const s = await this.stream.next();
        if (!s) {
          ended = true;
          break;
        }
        this.stats.pulled++;
        const position = this.stream.position();
        // copy 0 draws what the sample alone would; later copies (per-caption samples) augment anew
        const seed = sampleSeed(this.opts.seed, this.opts.epoch, s.url, s.copy === 0 ? s.key : `${s.key}#${s.copy}`);
        const task = { seq: seq++, key: s.key, url: s.url, files: s.files, seed, caption: this.opts.perCaption ? s.copy : undefined };
        queue.push({ result: this.pool.run(task), position, source: s.source ?? "" });
      }
    };
    let good: { r: Extract<SampleResult, { ok: true }>; position: DataPosition; source: string }[] = [];
    for (;;) {
      await fill();
      const head = queue.shift();
      if (!head) break;
      const r = await head.result;
      this.results++;
      if (!r.ok) {
        this.stats.failed++;
        const kind = problemKind(r.reason, r.url, r.key);
        this.failedByKind.set(kind, (this.failedByKind.get(kind) ?? 0) + 1);
        if (this.opts.onError === "fail") throw new DataError(`sample ${r.key} of ${r.url}: ${kind} (data.onError: fail; skip to go on without it)`);
        this.opts.onProblem?.({ shard: r.url, key: r.key, reason: r.reason, kind });
        this.checkSkipFraction();
        continue;
      }
      this.checkSkipFraction();
      good.push({ r, position: head.position, source: head.source });
      if (good.length === batchSize) {
        yield this.collate(good, imageSize);
        good = [];
      }
    }
    if (good.length > 0 && this.opts.dropLast === false) yield this.collate(good, imageSize);
  }

  /** Mostly bad data stops the run (from 20 samples on): the failures so far against the samples made or failed so far. */
  private checkSkipFraction(): void {
    const max = this.opts.maxSkipFraction;
    const seen = this.results;
    if (max === undefined || seen < 20 || !(this.stats.failed > max * seen)) return;
    const common = [...this.failedByKind].sort((a, b) => b[1] - a[1]).slice(0, 3);
    throw new DataError(
      `${this.stats.failed} of the first ${seen} samples could not be made, more than data.maxSkipFraction ${max}: ` +
        common.map(([k, n]) => `${n} × ${k}`).join("; "),
    );
  }

  private collate(items: { r: Extract<SampleResult, { ok: true }>; position: DataPosition; source: string }[], size: number): ImageTextBatch {
    const b = items.length;
    const perSample = items[0].r.pixels.length / (3 * size * size);
    const plane = perSample * 3 * size * size;
    const images = new Float32Array(b * plane);
    const length = Math.max(...items.map((x) => x.r.ids.length));
    const ids = new Int32Array(b * length).fill(this.opts.padId);
    const mask = new Int32Array(b * length);
    items.forEach(({ r }, i) => {
      if (r.pixels.length !== plane)
        throw new Error(`sample ${r.key}: ${r.pixels.length} pixel values, expected ${plane} (${perSample} image(s) of ${size}×${size})`);
      images.set(r.pixels, i * plane);
      ids.set(r.ids, i * length);
      mask.fill(1, i * length, i * length + r.ids.length);
    });
    this.stats.delivered += b;
    let negatives: ImageTextBatch["negatives"] = null;
    if (items.some((x) => x.r.negativeIds !== null)) {
      const nl = Math.max(...items.map((x) => x.r.negativeIds?.length ?? 0));
      negatives = { ids: new Int32Array(b * nl).fill(this.opts.padId), mask: new Int32Array(b * nl), length: nl, valid: new Uint8Array(b) };
      items.forEach(({ r }, i) => {
        if (!r.negativeIds || r.negativeIds.length === 0) return;
        negatives!.ids.set(r.negativeIds, i * nl);
        negatives!.mask.fill(1, i * nl, i * nl + r.negativeIds.length);
        negatives!.valid[i] = 1;
      });
    }
    let regions: Float32Array | null = null;
    if (items.some((x) => x.r.regions !== null)) {
      regions = new Float32Array(b * length * 4).fill(Number.NaN);
      items.forEach(({ r }, i) => {
        if (r.regions) regions!.set(r.regions, i * length * 4);
      });
    }
    return {
      negatives,
      regions,
      images,
      imagesPerSample: perSample,
      labels: Int32Array.from(items, (x) => x.r.label),
      answers: items.map((x) => x.r.answers),
      ids,
      mask,
      batch: b,
      length,
      size,
      keys: items.map((x) => x.r.key),
      captions: items.map((x) => x.r.caption),
      sources: items.map((x) => x.source),
      epoch: this.opts.epoch,
      position: items[b - 1].position,
    };
  }
}
