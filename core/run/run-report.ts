/** What the tasks report: the loss curve, the last logged losses, the summary every training run writes. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TrainingOutcome } from "../train/training-loop.ts";
import { type LineSeries, lineChart } from "../plot/line-chart.ts";
import { seriesColour } from "../plot/palette.ts";
import { type TopLevelSpec, writeChart } from "../plot/render-chart.ts";
import type { RunContext } from "./run-context.ts";
import type { RankStates } from "../distributed/state-hash.ts";

/** metrics.jsonl's rows, in order; a line cut short by an interrupted run is left out. */
export function readMetricRows(runDir: string): Record<string, number>[] {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) return [];
  const rows: Record<string, number>[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as Record<string, number>);
    } catch {
      // the last line of a run killed mid-write
    }
  }
  return rows;
}

/** [step, value] of one field over the rows that have it. */
export function metricSeries(rows: readonly Record<string, number>[], key: string): [number, number][] {
  return rows.filter((r) => typeof r[key] === "number").map((r) => [r.step, r[key]]);
}

/** The loss chart: the total in black and each of `objectives`' losses that was logged. */
export function lossChart(rows: readonly Record<string, number>[], objectives: readonly string[]): TopLevelSpec | null {
  const series: LineSeries[] = [
    { name: "loss", colour: "#222222", points: metricSeries(rows, "loss") },
    ...objectives.map((k, i) => ({ name: k, colour: seriesColour(i), points: metricSeries(rows, k) })),
  ].filter((c) => c.points.length > 0);
  return series.length > 0 ? lineChart(series, { title: "training loss", yTitle: "loss" }) : null;
}

/** loss.png from metrics.jsonl (`lossChart`); null when nothing was logged. */
export async function lossCurve(runDir: string, objectives: readonly string[]): Promise<string | null> {
  const chart = lossChart(readMetricRows(runDir), objectives);
  if (!chart) return null;
  const png = join(runDir, "loss.png");
  await writeChart(png, chart);
  return png;
}

/** The last logged total and objective losses, rounded to 4 decimals. */
export function readLastLoss(file: string, objectives: readonly string[]): Record<string, number> | null {
  const lines = readFileSync(file, "utf8").trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]) as Record<string, number>;
  const out: Record<string, number> = {};
  for (const k of ["loss", ...objectives]) if (typeof last[k] === "number") out[k] = Math.round(last[k] * 1e4) / 1e4;
  return out;
}

/** What every training task's summary.json starts with, and its artifacts (metrics, checkpoint, loss curve). */
export async function trainingReport(ctx: RunContext, outcome: TrainingOutcome): Promise<{ base: TrainingSummary; artifacts: Record<string, string> }> {
  const { runDir, scope } = ctx;
  const { trainer, trainSeconds, stepsPerEpoch, skipped, samplesBySource, selection, checkpoint, stepsRun, peakRssBytes, rankStates } = outcome;
  const metricsFile = join(runDir, "metrics.jsonl");
  // an evaluation without training steps has no metrics
  const artifacts: Record<string, string> = existsSync(metricsFile) ? { metrics: metricsFile } : {};
  if (checkpoint) artifacts.checkpoint = checkpoint;
  const objectives = scope.config.objectives.map((o) => o.name);
  const main = ctx.world?.isMain ?? true;
  // rank 0 writes metrics.jsonl, its plot and the summary
  const curve = main ? await lossCurve(runDir, objectives) : null;
  if (curve) artifacts.lossCurve = curve;
  const processes = ctx.world?.size ?? 1;
  artifacts.summary = join(runDir, "summary.json");
  return {
    artifacts,
    base: {
      name: scope.config.name,
      steps: trainer.step,
      epochs: stepsPerEpoch ? Math.round((trainer.step / stepsPerEpoch) * 100) / 100 : trainer.epoch,
      samples: trainer.samples,
      wall_time_s: Math.round(trainSeconds * 10) / 10,
      step_time_s: stepsRun > 0 ? Math.round((trainSeconds / stepsRun) * 1000) / 1000 : null,
      peak_rss_mb: Math.round(peakRssBytes / 2 ** 20),
      backend: `${ctx.backend.backend} (${ctx.backend.plugin})`,
      fusion: scope.config.model?.fusion.name,
      final_loss: main && trainer.lastState ? readLastLoss(metricsFile, objectives) : null,
      ...(processes > 1
        ? {
            processes,
            rank_states: rankStates,
            allreduce: {
              seconds_per_step: trainer.reduceTotals.steps > 0 ? trainer.reduceTotals.seconds / trainer.reduceTotals.steps : null,
              mb_per_step: trainer.reduceTotals.steps > 0 ? trainer.reduceTotals.bytes / trainer.reduceTotals.steps / 2 ** 20 : null,
              buckets: trainer.reduceTotals.buckets,
            },
          }
        : {}),
      skipped_samples: skipped.samples,
      skipped_by_reason: skipped.by_reason,
      damaged_shards: skipped.shards,
      ...(samplesBySource ? { samples_by_source: samplesBySource } : {}),
      ...(selection
        ? {
            selection: {
              metric: selection.metric,
              best_epoch: selection.best?.epoch ?? null,
              best_step: selection.best?.step ?? null,
              best_score: selection.best?.score ?? null,
              best_dir: selection.best?.dir ?? null,
              by_epoch: selection.byEpoch,
            },
          }
        : {}),
      checkpoint,
    },
  };
}

export interface TrainingSummary {
  name: string;
  /** the skipped training samples by kind of reason */
  skipped_by_reason: Record<string, number>;
  /** training shards not read to their end (missing, truncated, corrupt): shard → reason; their lost samples are not counted in skipped_samples */
  damaged_shards: Record<string, string>;
  /** a mixture's training samples by source (this process) */
  samples_by_source?: Record<string, number>;
  /** model selection on the validation split: the best epoch and its weights' folder, every epoch's score */
  selection?: {
    metric: string;
    best_epoch: number | null;
    best_step: number | null;
    best_score: number | null;
    best_dir: string | null;
    by_epoch: { epoch: number; step: number; score: number }[];
  };
  steps: number;
  epochs: number;
  /** samples seen, every process's together */
  samples: number;
  /** processes of a data-parallel run (absent: one) */
  processes?: number;
  /** whether every rank ended with the same state (data-parallel runs) */
  rank_states?: RankStates | null;
  /** rank 0's gradient all-reduces (data-parallel runs): time and size per optimizer step, fused buckets per step */
  allreduce?: { seconds_per_step: number | null; mb_per_step: number | null; buckets: number };
  wall_time_s: number;
  /** wall time per optimizer step of this process, data loading included */
  step_time_s: number | null;
  /** largest resident set size of the process during training, MiB */
  peak_rss_mb: number;
  backend: string;
  fusion?: string;
  final_loss: Record<string, number> | null;
  skipped_samples: number;
  checkpoint: string | null;
}

/** summary.json and summary.md in the run folder, with what the run's evaluations dropped (`evaluation_dropped`). */
export function writeSummary(ctx: Pick<RunContext, "runDir" | "dropped" | "world">, summary: object, markdown: string): void {
  if (typeof ctx !== "object" || !ctx.dropped)
    throw new TypeError("writeSummary: pass the run context (ctx), not its folder: the summary carries what the evaluation dropped");
  if (ctx.world && !ctx.world.isMain) return;
  const full = { ...summary, evaluation_dropped: ctx.dropped.summary() };
  writeFileSync(join(ctx.runDir, "summary.json"), JSON.stringify(full, null, 2) + "\n");
  writeFileSync(join(ctx.runDir, "summary.md"), markdown + ctx.dropped.markdown());
}
