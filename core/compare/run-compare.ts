/**
 * `polyalign compare`: every planned run in turn (seed-major), each an ordinary
 * config run; a stage whose folder has its summary is not rerun, one cut short
 * resumes from its checkpoint, and a folder made by a different config is an
 * error rather than a silent mix. Then the report.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { configToYaml } from "../config/write.ts";
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { PluginRegistry } from "../registry/registry.ts";
import { prepareRun } from "../run/prepare-run.ts";
import { runConfigTask } from "../run/run-task.ts";
import { CompareSection } from "./compare-config.ts";
import { compareDir, type PlannedRun, planComparison } from "./plan.ts";
import { type CompareReport, writeCompareReport } from "./report.ts";
import { parseWith } from "../config/validate.ts";

export interface CompareOptions {
  configFile: string;
  variants: readonly string[];
  seeds: number;
  sets?: readonly string[];
  /** delete an earlier comparison of the same name first */
  fresh?: boolean;
  /** the command line, quoted in the report */
  command: string;
  log: Logger;
  out(line: string): void;
}

export async function runComparison(registry: PluginRegistry, opts: CompareOptions): Promise<CompareReport> {
  const { config, file } = await prepareRun(registry, opts.configFile, { sets: opts.sets ?? [], log: opts.log });
  const section = parseWith(CompareSection, config.compare ?? {}, ["compare"], file);
  const dir = compareDir(config.runs, config.name);
  const plan = planComparison({
    configFile: file,
    section,
    name: config.name,
    seed: config.seed,
    runs: config.runs,
    variants: opts.variants,
    seeds: opts.seeds,
    sets: opts.sets ?? [],
  });
  if (opts.fresh) rmSync(dir, { recursive: true, force: true });
  const started = performance.now();
  for (const [i, run] of plan.entries()) {
    const what = `[${i + 1}/${plan.length}] ${run.variant} seed ${run.seed} ${run.stage.name}`;
    const state = await stageState(registry, run, opts.log);
    if (state === "done") {
      opts.out(`${what}: done earlier (${run.runDir})`);
      continue;
    }
    opts.out(`${what}: ${state === "resume" ? "resuming" : "running"} → ${run.runDir}`);
    const t0 = performance.now();
    await runConfigTask(registry, run.configFile, { sets: run.sets, resume: state === "resume", fresh: state === "fresh", log: opts.log, out: opts.out });
    const seconds = (performance.now() - t0) / 1000;
    const elapsed = (performance.now() - started) / 1000;
    opts.out(`${what}: finished in ${seconds.toFixed(0)} s (comparison so far ${(elapsed / 60).toFixed(1)} min)`);
  }
  const report = await writeCompareReport({
    dir,
    name: config.name,
    command: opts.command,
    section,
    plan,
    variants: opts.variants,
    seeds: opts.seeds,
    baseSeed: config.seed,
  });
  opts.out(`report: ${join(dir, "report.md")}`);
  return report;
}

type StageState = "done" | "resume" | "fresh";

async function stageState(registry: PluginRegistry, run: PlannedRun, log: Logger): Promise<StageState> {
  const written = join(run.runDir, "config.yaml");
  if (!existsSync(written)) return "fresh";
  const { config } = await prepareRun(registry, run.configFile, { sets: run.sets, log });
  const expected = configToYaml(config);
  const found = readFileSync(written, "utf8").replace(/^#.*\n/, "");
  if (found !== expected) {
    const a = found.split("\n");
    const b = expected.split("\n");
    const k = a.findIndex((line, j) => line !== b[j]);
    throw new UsageError(
      `${run.runDir} was made by a different config (config.yaml line ${k + 2}: found "${a[k] ?? ""}", now "${b[k] ?? ""}"); ` +
        "--fresh reruns the whole comparison, --set name=... compares into another folder",
    );
  }
  if (existsSync(join(run.runDir, "summary.json"))) return "done";
  return existsSync(join(run.runDir, "checkpoints", "latest.json")) ? "resume" : "fresh";
}
