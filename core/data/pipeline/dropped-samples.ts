/**
 * The samples a run could not use, so that none vanishes without a word:
 * counted by kind of reason, with the damaged shards apart (a shard cut short
 * loses an unknown number of samples, so it is not counted as one). A run has
 * one for training and one for evaluation; summary.json carries both.
 */
import type { Logger } from "../../log.ts";

export interface DroppedSummary {
  /** samples that could not be made, by kind of reason */
  samples: number;
  by_reason: Record<string, number>;
  /** shards that could not be read to their end: shard → reason */
  shards: Record<string, string>;
}

export class DroppedSamples {
  private samples = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly shards: Record<string, string> = {};
  /** shard and key of every sample counted: a sample two passes could not use counts once */
  private readonly seen = new Set<string>();

  constructor(
    private readonly log?: Logger,
    /** what the samples were for, in log lines: "training", "evaluation" */
    private readonly use: string = "evaluation",
  ) {}

  /** a sample that was not used (`kind`: the reason without its address) */
  sample(p: { shard: string; key: string; reason: string; kind?: string }): void {
    const id = `${p.shard}\u0000${p.key}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const kind = p.kind ?? p.reason;
    this.byReason[kind] = (this.byReason[kind] ?? 0) + 1;
    if (++this.samples <= 20) this.log?.warn(`${this.use}: dropped sample ${p.key} of ${p.shard}: ${p.reason}`);
  }

  /** a shard whose rest could not be read */
  shard(url: string, reason: string): void {
    if (!(url in this.shards)) this.log?.warn(`${this.use}: shard ${url} not read to its end: ${reason}`);
    this.shards[url] = reason;
  }

  get count(): number {
    return this.samples;
  }

  summary(): DroppedSummary {
    return { samples: this.samples, by_reason: { ...this.byReason }, shards: { ...this.shards } };
  }

  /** one Markdown line when anything was dropped, else "" */
  markdown(): string {
    const shards = Object.keys(this.shards).length;
    if (this.samples === 0 && shards === 0) return "";
    const reasons = Object.entries(this.byReason)
      .map(([k, n]) => `${n} × ${k}`)
      .join("; ");
    return `\n${this.use[0].toUpperCase()}${this.use.slice(1)} dropped ${this.samples} sample(s)${reasons ? ` (${reasons})` : ""}${shards ? `; ${shards} shard(s) not read to their end` : ""}.\n`;
  }
}
