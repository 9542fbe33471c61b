/**
 * ShardWriter: samples → numbered tar shards (`pattern % index`, e.g.
 * `train-%06d.tar`), rolling over before a write once `maxcount` samples or
 * `maxsize` payload bytes are reached (webdataset's rule). Members are written
 * in sorted extension order with fixed mode, owner and mtime, so the same
 * samples give the same bytes. Each shard is written to a temp file and
 * renamed when complete; `sizes.json` beside the shards maps file name →
 * sample count (merged with an existing one).
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import tarStream from "tar-stream";
import { PolyalignError } from "../../errors.ts";
import { tempPathFor, writeFileAtomic } from "../../util/atomic-file.ts";
import { extProblem, keyProblem } from "./keys.ts";

export class ShardWriteError extends PolyalignError {}

export interface ShardWriterOptions {
  /** printf-style: `%d` or `%0Nd` for the shard number */
  pattern: string;
  maxcount?: number;
  /** payload bytes per shard (headers not counted) */
  maxsize?: number;
  /** member mtime in seconds since the epoch (default 2020-01-01, for reproducible bytes) */
  mtime?: number;
  startShard?: number;
  /** write/merge sizes.json beside the shards (default true) */
  sizesIndex?: boolean;
  /** called when a key is valid but not plain ASCII (readers that see only the ustar name miss it) */
  onWarning?: (message: string) => void;
}

export interface SampleToWrite {
  key: string;
  /** extension → bytes or UTF-8 text */
  files: Record<string, Uint8Array | string>;
}

export interface ShardSummary {
  file: string;
  samples: number;
  payloadBytes: number;
}

export function formatShardName(pattern: string, index: number): string {
  let used = false;
  const name = pattern.replace(/%(0?)(\d*)d/, (_m, zero: string, width: string) => {
    used = true;
    const s = String(index);
    return width ? s.padStart(Number(width), zero ? "0" : " ") : s;
  });
  if (!used) throw new ShardWriteError(`shard pattern "${pattern}" has no %d / %06d placeholder`);
  return name;
}

interface OpenShard {
  file: string;
  tmp: string;
  pack: tarStream.Pack;
  done: Promise<void>;
  out: ReturnType<typeof createWriteStream>;
  samples: number;
  bytes: number;
}

export class ShardWriter {
  private readonly maxcount: number;
  private readonly maxsize: number;
  private readonly mtime: Date;
  private next: number;
  private current: OpenShard | null = null;
  private closed = false;
  readonly written: ShardSummary[] = [];

  constructor(private readonly opts: ShardWriterOptions) {
    this.maxcount = opts.maxcount ?? 100_000;
    this.maxsize = opts.maxsize ?? 3e9;
    this.mtime = new Date((opts.mtime ?? 1577836800) * 1000);
    this.next = opts.startShard ?? 0;
    formatShardName(opts.pattern, 0); // validate early
    if (!(this.maxcount >= 1)) throw new ShardWriteError(`maxcount must be ≥ 1, got ${this.maxcount}`);
  }

  private open(): OpenShard {
    const file = formatShardName(this.opts.pattern, this.next++);
    mkdirSync(dirname(file), { recursive: true });
    const tmp = tempPathFor(file);
    const pack = tarStream.pack();
    const out = createWriteStream(tmp, { flags: "wx" });
    const done = new Promise<void>((resolve, reject) => {
      out.on("finish", () => resolve());
      out.on("error", reject);
      pack.on("error", reject);
    });
    pack.pipe(out);
    return { file, tmp, pack, done, out, samples: 0, bytes: 0 };
  }

  async write(sample: SampleToWrite): Promise<void> {
    if (this.closed) throw new ShardWriteError("ShardWriter.write after close()");
    const problem = keyProblem(sample.key);
    if (problem) throw new ShardWriteError(`cannot write sample key ${JSON.stringify(sample.key)}: ${problem}`);
    if (!/^[\x20-\x7e]*$/.test(sample.key))
      this.opts.onWarning?.(`sample key ${JSON.stringify(sample.key)} is not plain ASCII; some readers see only the 100-byte ustar name`);
    const exts = Object.keys(sample.files).sort();
    if (exts.length === 0) throw new ShardWriteError(`sample ${sample.key} has no files`);
    const bodies = exts.map((ext) => {
      const p = extProblem(ext);
      if (p) throw new ShardWriteError(`sample ${sample.key}: extension ${JSON.stringify(ext)}: ${p}`);
      const v = sample.files[ext];
      return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    });
    if (this.current && (this.current.samples >= this.maxcount || this.current.bytes >= this.maxsize)) await this.finishCurrent();
    this.current ??= this.open();
    const shard = this.current;
    for (let i = 0; i < exts.length; i++) {
      shard.pack.entry(
        { name: `${sample.key}.${exts[i]}`, size: bodies[i].length, mode: 0o444, mtime: this.mtime, uid: 0, gid: 0, uname: "bigdata", gname: "bigdata" },
        bodies[i],
      );
      shard.bytes += bodies[i].length;
    }
    shard.samples++;
    if (shard.out.writableNeedDrain) await new Promise<void>((resolve) => shard.out.once("drain", resolve));
  }

  private async finishCurrent(): Promise<void> {
    const shard = this.current;
    if (!shard) return;
    this.current = null;
    shard.pack.finalize();
    try {
      await shard.done;
      renameSync(shard.tmp, shard.file);
    } catch (e) {
      rmSync(shard.tmp, { force: true });
      throw new ShardWriteError(`writing ${shard.file} failed: ${(e as Error).message}`);
    }
    this.written.push({ file: shard.file, samples: shard.samples, payloadBytes: shard.bytes });
  }

  /** Finish the last shard and write sizes.json. */
  async close(): Promise<ShardSummary[]> {
    if (this.closed) return this.written;
    this.closed = true;
    await this.finishCurrent();
    if (this.opts.sizesIndex !== false && this.written.length > 0) updateSizesIndex(this.written);
    return this.written;
  }

  /** Drop the shard being written (its temp file) without renaming it into place. */
  abort(): void {
    this.closed = true;
    if (this.current) {
      this.current.pack.destroy();
      this.current.out.destroy();
      rmSync(this.current.tmp, { force: true });
      this.current = null;
    }
  }
}

/** Merge `{file name: samples}` into sizes.json of each shard's folder. */
export function updateSizesIndex(shards: readonly ShardSummary[]): void {
  updateCountIndex(
    "sizes.json",
    shards.map((s) => ({ file: s.file, count: s.samples })),
  );
}

/**
 * Merge `{file name: count}` into the index `name` of each shard's folder:
 * sizes.json (samples, WebDataset's own), pairs.json (image–caption pairs,
 * for per-caption sampling).
 */
export function updateCountIndex(name: string, counts: readonly { file: string; count: number }[]): void {
  const byDir = new Map<string, { file: string; count: number }[]>();
  for (const c of counts) byDir.set(dirname(c.file), [...(byDir.get(dirname(c.file)) ?? []), c]);
  for (const [dir, list] of byDir) {
    const file = join(dir, name);
    let index: Record<string, number> = {};
    if (existsSync(file)) {
      try {
        index = JSON.parse(readFileSync(file, "utf8")) as Record<string, number>;
      } catch {
        index = {};
      }
    }
    for (const c of list) index[basename(c.file)] = c.count;
    const sorted = Object.fromEntries(Object.entries(index).sort(([a], [b]) => a.localeCompare(b)));
    writeFileAtomic(file, JSON.stringify(sorted, null, 2) + "\n");
  }
}

/** Sample counts from sizes.json beside a shard, or null. */
export function readSizesIndex(shardFile: string): Record<string, number> | null {
  return readCountIndex(shardFile, "sizes.json");
}

/** The index `name` (sizes.json, pairs.json) beside a shard, or null. */
export function readCountIndex(shardFile: string, name: string): Record<string, number> | null {
  const file = join(dirname(shardFile), name);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, number>;
  } catch {
    return null;
  }
}
