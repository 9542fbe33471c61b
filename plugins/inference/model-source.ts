/**
 * Where a model comes from: a run folder (its config.yaml and its latest
 * checkpoint, or `checkpoint: "best"` / a step folder), a checkpoint folder
 * (its trainer.json carries the config), or a weights file (a converted
 * ALBEF file, a .pth, a safetensors) with a config file for the model's sizes.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { DataError, type PlainObject, readTrainerState, UsageError } from "../../core/index.ts";

export interface ModelSource {
  /** the config: a file, or the object a checkpoint folder carries */
  config: string | PlainObject;
  /** what loadVisionLanguageWeights reads: a run or checkpoint folder, or a weights file */
  weights: string;
  /** e.g. `run runs/demo` */
  description: string;
}

export interface SourceOptions {
  /** a config file: needed for a bare weights file, otherwise replaces the one the source carries */
  config?: string;
  /** in a run folder: `latest` (default), `best`, or a checkpoint folder's name or path */
  checkpoint?: string;
}

export function resolveModelSource(source: string, opts: SourceOptions = {}): ModelSource {
  const path = resolve(source);
  if (!existsSync(path)) throw new DataError(`${source}: no such run folder, checkpoint folder or weights file`);
  if (statSync(path).isFile()) {
    if (!opts.config) throw new UsageError(`${source} is a weights file: give the config that describes its model (config: FILE, --config FILE)`);
    return { config: opts.config, weights: path, description: `weights ${source}` };
  }
  if (existsSync(join(path, "config.yaml"))) {
    const weights = runCheckpoint(path, opts.checkpoint);
    return { config: opts.config ?? join(path, "config.yaml"), weights, description: `run ${source}${opts.checkpoint ? ` (${opts.checkpoint})` : ""}` };
  }
  if (existsSync(join(path, "trainer.json"))) {
    const config = opts.config ?? readTrainerState(path).config;
    if (!config || typeof config !== "object") throw new DataError(`${join(path, "trainer.json")}: the checkpoint carries no config; give one (config: FILE)`);
    return { config: config as PlainObject, weights: path, description: `checkpoint ${source}` };
  }
  // a run's best/ folder: the run's config is one level up
  if (existsSync(join(path, "model.safetensors")) && existsSync(join(dirname(path), "config.yaml"))) {
    return { config: opts.config ?? join(dirname(path), "config.yaml"), weights: path, description: `${basename(path)} of run ${dirname(source)}` };
  }
  if (opts.config) return { config: opts.config, weights: path, description: `weights in ${source}` };
  throw new DataError(`${source}: a folder with neither config.yaml (a run) nor trainer.json (a checkpoint)`);
}

function runCheckpoint(run: string, which: string | undefined): string {
  if (!which || which === "latest") return run;
  const candidates = which === "best" ? [join(run, "best")] : [resolve(which), join(run, "checkpoints", which), join(run, which)];
  const found = candidates.find((c) => existsSync(join(c, "model.safetensors")));
  if (!found) throw new DataError(`${run}: no checkpoint "${which}" (looked in ${candidates.join(", ")})`);
  return found;
}
