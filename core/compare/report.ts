/**
 * The comparison's report: report.md (a table per stage, mean ± std over
 * seeds, the difference to the first variant and whether it exceeds the seed
 * spread; hypergraph diagnostics; plots), report.json with every number, and
 * PNG plots — per-variant curves of the first stage and per-stage bars with
 * error bars. Every figure is read back from the runs' own files.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-file.ts";
import { type BarSeries, barChart } from "../plot/bar-chart.ts";
import { type LineSeries, lineChart } from "../plot/line-chart.ts";
import { writeChart } from "../plot/render-chart.ts";
import { curveFields, metricCurve, metricPaths, numberAt, readSummary } from "./collect.ts";
import type { CompareSection } from "./compare-config.ts";
import type { PlannedRun } from "./plan.ts";
import { exceedsSpread, type SeedStats, seedStats } from "./stats.ts";

export interface MetricRow {
  label: string;
  /** dotted path into the stage's summary.json */
  path: string;
  byVariant: Record<string, SeedStats>;
}

export interface StageReport {
  stage: string;
  metrics: MetricRow[];
}

export interface CompareReport {
  name: string;
  command: string;
  variants: string[];
  seeds: number[];
  stages: StageReport[];
  /** the first stage's per-step figures (mean over seeds): field → variant → [step, mean] */
  curves: Record<string, Record<string, [number, number][]>>;
  /** per variant: the first stage's step time, peak memory and the fusion's last per-layer figures */
  diagnostics: Record<string, Record<string, SeedStats>>;
  files: Record<string, string>;
}

export interface ReportInput {
  dir: string;
  name: string;
  command: string;
  section: CompareSection;
  plan: readonly PlannedRun[];
  variants: readonly string[];
  seeds: number;
  baseSeed: number;
}

const DIAGNOSTIC_PREFIXES = ["bimodal_fraction_layer", "branch_weight_layer"];

export function buildCompareReport(input: ReportInput): CompareReport {
  const { section, plan, variants } = input;
  const seeds = Array.from({ length: input.seeds }, (_, k) => input.baseSeed + k);
  const runOf = (variant: string, seed: number, stage: string) =>
    plan.find((r) => r.variant === variant && r.seed === seed && r.stage.name === stage) as PlannedRun;
  const stages: StageReport[] = section.stages.map((stage) => {
    const summaries = new Map(plan.filter((r) => r.stage.name === stage.name).map((r) => [r.runDir, readSummary(r.runDir)]));
    const first = summaries.get(runOf(variants[0], seeds[0], stage.name).runDir)!;
    const paths = metricPaths(first, stage.metrics);
    const metrics = Object.entries(paths).map(([label, path]) => ({
      label,
      path,
      byVariant: Object.fromEntries(variants.map((v) => [v, seedStats(seeds.map((s) => numberAt(summaries.get(runOf(v, s, stage.name).runDir)!, path)))])),
    }));
    return { stage: stage.name, metrics };
  });
  const firstStage = section.stages[0].name;
  const curves: CompareReport["curves"] = {};
  const diagFields = [
    ...new Set(plan.filter((r) => r.stage.name === firstStage).flatMap((r) => DIAGNOSTIC_PREFIXES.flatMap((p) => curveFields(r.runDir, p)))),
  ].sort();
  for (const field of [...section.curves, ...diagFields]) {
    curves[field] = Object.fromEntries(variants.map((v) => [v, meanCurve(seeds.map((s) => metricCurve(runOf(v, s, firstStage).runDir, field)))]));
  }
  const diagnostics: CompareReport["diagnostics"] = {};
  for (const v of variants) {
    const runs = seeds.map((s) => runOf(v, s, firstStage));
    const summaries = runs.map((r) => readSummary(r.runDir));
    diagnostics[v] = {
      step_time_s: seedStats(summaries.map((s) => numberAt(s, "step_time_s"))),
      peak_rss_mb: seedStats(summaries.map((s) => numberAt(s, "peak_rss_mb"))),
      ...Object.fromEntries(diagFields.map((f) => [f, seedStats(runs.map((r) => metricCurve(r.runDir, f).at(-1)?.[1] ?? null))])),
    };
  }
  return { name: input.name, command: input.command, variants: [...variants], seeds, stages, curves, diagnostics, files: {} };
}

/** Pointwise mean of curves over the steps every one of them has. */
function meanCurve(curves: readonly [number, number][][]): [number, number][] {
  const present = curves.filter((c) => c.length > 0);
  if (present.length === 0) return [];
  const maps = present.map((c) => new Map(c));
  return present[0]
    .filter(([step]) => maps.every((m) => m.has(step)))
    .map(([step]) => [step, maps.reduce((a, m) => a + (m.get(step) as number), 0) / maps.length]);
}

export function formatStats(s: SeedStats | undefined, digits = 2): string {
  if (!s || s.mean === null) return "—";
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${(s.std as number).toFixed(digits)}` : s.mean.toFixed(digits);
}

function differenceCell(a: SeedStats, b: SeedStats): [string, string] {
  if (a.mean === null || b.mean === null) return ["—", "—"];
  const d = b.mean - a.mean;
  const beyond = exceedsSpread(a, b);
  return [`${d >= 0 ? "+" : ""}${d.toFixed(2)}`, beyond === null ? "n/a (one seed)" : beyond ? "**yes**" : "no"];
}

export function renderCompareMarkdown(r: CompareReport): string {
  const [base, ...others] = r.variants;
  const lines: string[] = [
    `# Comparison ${r.name}: ${r.variants.join(" vs ")}`,
    "",
    `Made by \`${r.command}\`. Seeds ${r.seeds.join(", ")}: the same seed gives every variant the same initialisation draws and data order.`,
    `Each cell is the mean ± sample standard deviation over ${r.seeds.length} seed${r.seeds.length > 1 ? "s" : ""}; Δ is a variant minus ${base}.`,
    '"Beyond spread" means |Δ| exceeds the sum of the two standard deviations — a rough rule, not a significance test.',
    "",
  ];
  for (const stage of r.stages) {
    lines.push(`## ${stage.stage}`, "");
    const head = ["figure", ...r.variants, ...others.flatMap((o) => [`Δ ${o}`, "beyond spread"])];
    lines.push(`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`);
    for (const m of stage.metrics) {
      const cells = [
        `${m.label} (\`${m.path}\`)`,
        ...r.variants.map((v) => formatStats(m.byVariant[v])),
        ...others.flatMap((o) => differenceCell(m.byVariant[base], m.byVariant[o])),
      ];
      lines.push(`| ${cells.join(" | ")} |`);
    }
    if (r.files[`bars-${stage.stage}`]) lines.push("", `![${stage.stage}](bars-${stage.stage}.png)`);
    lines.push("");
  }
  lines.push(`## Training curves (${r.stages[0]?.stage}, mean over seeds)`, "");
  for (const field of Object.keys(r.curves)) if (r.files[`curve-${field}`]) lines.push(`![${field}](curve-${field}.png)`);
  lines.push("", "## Fusion diagnostics", "");
  const fields = [...new Set(r.variants.flatMap((v) => Object.keys(r.diagnostics[v] ?? {})))];
  const head = ["variant", ...fields.flatMap((f) => (f === "step_time_s" || f === "peak_rss_mb" ? [f, `× ${base}`] : [f]))];
  lines.push(`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`);
  for (const v of r.variants) {
    const cells = [v];
    for (const f of fields) {
      const s = r.diagnostics[v]?.[f];
      cells.push(formatStats(s, f === "peak_rss_mb" ? 0 : 3));
      if (f === "step_time_s" || f === "peak_rss_mb") {
        const b = r.diagnostics[base]?.[f];
        cells.push(s?.mean != null && b?.mean ? `${(s.mean / b.mean).toFixed(2)}` : "—");
      }
    }
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    "step_time_s: training wall time per optimizer step, data loading included; peak_rss_mb: the process's largest resident set during training.",
    "bimodal_fraction_layerN: the share of hyperedges that tie image and text tokens at the last logged step; branch_weight_layerN: the mean branch-attention weight of the hypergraph branch (1 − that goes to attention).",
    "",
  );
  return lines.join("\n");
}

export async function writeCompareReport(input: ReportInput): Promise<CompareReport> {
  const r = buildCompareReport(input);
  for (const stage of r.stages) {
    const series: BarSeries[] = r.variants.map((v) => ({
      name: v,
      values: stage.metrics.map((m) => m.byVariant[v].mean),
      spread: stage.metrics.map((m) => m.byVariant[v].std),
    }));
    const file = join(input.dir, `bars-${stage.stage}.png`);
    const seeds = r.seeds.length > 1 ? `mean and std over ${r.seeds.length} seeds` : "one seed";
    await writeChart(
      file,
      barChart(
        stage.metrics.map((m) => m.label),
        series,
        { title: `${stage.stage}: ${seeds}` },
      ),
    );
    r.files[`bars-${stage.stage}`] = file;
  }
  for (const [field, byVariant] of Object.entries(r.curves)) {
    const series: LineSeries[] = r.variants.map((v) => ({ name: v, points: byVariant[v] ?? [] }));
    if (series.every((s) => s.points.length === 0)) continue;
    const file = join(input.dir, `curve-${field}.png`);
    await writeChart(file, lineChart(series, { title: `${field} (${r.stages[0].stage}, mean over seeds)`, yTitle: field }));
    r.files[`curve-${field}`] = file;
  }
  r.files.markdown = join(input.dir, "report.md");
  r.files.json = join(input.dir, "report.json");
  writeFileAtomic(r.files.markdown, renderCompareMarkdown(r));
  writeFileAtomic(r.files.json, `${JSON.stringify(r, null, 2)}\n`);
  return r;
}
