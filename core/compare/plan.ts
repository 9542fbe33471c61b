/**
 * The runs a comparison consists of: for every variant and seed, the stages
 * in order, each an ordinary config run in
 * `<runs>/compare-<name>/<variant>/seed-<seed>/<stage>/`. A variant changes the
 * fusion only; seed k is the same number — hence the same initialisation draws
 * and data order — for every variant.
 */
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import type { CompareSection, CompareStage } from "./compare-config.ts";

export interface PlannedRun {
  variant: string;
  seed: number;
  stage: CompareStage;
  /** the config file to load (the compared one, or the stage's) */
  configFile: string;
  /** overrides, applied in order after the file's own values */
  sets: string[];
  runDir: string;
}

export interface ComparePlanInput {
  configFile: string;
  section: CompareSection;
  /** the compared config's name, seed and runs folder */
  name: string;
  seed: number;
  runs: string;
  variants: readonly string[];
  seeds: number;
  /** --set overrides from the command line, applied to every stage last */
  sets: readonly string[];
}

export function compareDir(runs: string, name: string): string {
  return join(runs, `compare-${name}`);
}

/** --set lines that make the fusion section a variant: a plugin name, or a named variant of the compare section. */
export function variantSets(variant: string, section: CompareSection): string[] {
  const named = section.variants[variant];
  if (!named) return [`model.fusion.name=${variant}`];
  const { name, ...options } = named;
  return [`model.fusion.name=${name}`, ...Object.entries(options).map(([k, v]) => `model.fusion.${k}=${JSON.stringify(v)}`)];
}

export function planComparison(input: ComparePlanInput): PlannedRun[] {
  const { section } = input;
  if (input.variants.length < 1) throw new ConfigError("compare: --variants names no variant", "variants");
  if (new Set(input.variants).size !== input.variants.length)
    throw new ConfigError(`compare: a variant is named twice in ${input.variants.join(",")}`, "variants");
  if (!Number.isInteger(input.seeds) || input.seeds < 1) throw new ConfigError(`compare: --seeds must be a positive integer (got ${input.seeds})`, "seeds");
  const names = section.stages.map((s) => s.name);
  section.stages.forEach((s, i) => {
    if (names.indexOf(s.name) !== i) throw new ConfigError(`compare.stages: stage ${s.name} is listed twice`, `compare.stages.${i}.name`, input.configFile);
    if (s.init !== undefined && !names.slice(0, i).includes(s.init)) {
      throw new ConfigError(
        `compare.stages.${i}: init ${s.init} is not an earlier stage (earlier: ${names.slice(0, i).join(", ") || "none"})`,
        `compare.stages.${i}.init`,
        input.configFile,
      );
    }
  });
  const root = compareDir(input.runs, input.name);
  const base = dirname(resolve(input.configFile));
  const out: PlannedRun[] = [];
  // seed-major, so that an interrupted comparison has every variant for its first seeds
  for (let k = 0; k < input.seeds; k++) {
    const seed = input.seed + k;
    for (const variant of input.variants) {
      const folder = join(root, variant, `seed-${seed}`);
      for (const stage of section.stages) {
        const sets = [
          ...stage.set,
          ...variantSets(variant, section),
          `seed=${seed}`,
          `runs=${folder}`,
          `name=${stage.name}`,
          ...(stage.init ? [`task.init=${join(folder, stage.init)}`] : []),
          ...input.sets,
        ];
        out.push({ variant, seed, stage, configFile: stage.config ? resolve(base, stage.config) : input.configFile, sets, runDir: join(folder, stage.name) });
      }
    }
  }
  return out;
}
