/**
 * Training checkpoints: `<runDir>/checkpoints/step-NNNNNNN/` holding
 * model.safetensors, optimizer.safetensors and trainer.json, written into a
 * temporary folder and renamed into place, then `latest.json` is replaced
 * atomically. A crash at any point leaves the previous checkpoint usable.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { readSafetensors, type StoredTensor, writeSafetensors } from "../checkpoint/safetensors.ts";
import { moduleToStored, loadStateDict } from "../checkpoint/state-dict.ts";
import type { Module } from "../tensor/module.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";
import type { AdamW } from "./adamw.ts";

export interface TrainerState {
  step: number;
  epoch: number;
  /** samples seen so far */
  samples: number;
  rng: [number, number, number, number];
  /** the data stream position to resume from (JSON-serialisable) */
  data: unknown;
  config: unknown;
  savedAt: string;
}

export function checkpointDir(runDir: string, step: number): string {
  return join(runDir, "checkpoints", `step-${String(step).padStart(7, "0")}`);
}

export function saveCheckpoint(runDir: string, model: Module, optimizer: AdamW, state: TrainerState, keep = 2): string {
  const final = checkpointDir(runDir, state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeSafetensors(join(tmp, "model.safetensors"), moduleToStored(model), {
      format: "polyalign",
      step: String(state.step),
      config: JSON.stringify(state.config),
    });
    const opt = optimizer.state();
    writeSafetensors(join(tmp, "optimizer.safetensors"), opt.tensors, { step: String(opt.step) });
    writeFileAtomic(join(tmp, "trainer.json"), JSON.stringify(state, null, 1) + "\n");
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new CheckpointError(`saving checkpoint ${final} failed (the previous one is untouched): ${(e as Error).message}`, final, { cause: e });
  }
  writeFileAtomic(join(runDir, "checkpoints", "latest.json"), JSON.stringify({ step: state.step, dir: final }) + "\n");
  const all = readdirSync(join(runDir, "checkpoints"))
    .filter((d) => /^step-\d+$/.test(d))
    .sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(runDir, "checkpoints", old), { recursive: true, force: true });
  return final;
}

export function latestCheckpoint(runDir: string): string | null {
  const file = join(runDir, "checkpoints", "latest.json");
  if (!existsSync(file)) return null;
  const { dir } = JSON.parse(readFileSync(file, "utf8")) as { dir: string };
  // `dir` is as the run saw it (relative to where it ran); a run folder moved or used from elsewhere still holds it
  return [dir, join(runDir, "checkpoints", basename(dir))].find((d) => existsSync(join(d, "trainer.json"))) ?? null;
}

export function loadCheckpoint(dir: string, model: Module, optimizer: AdamW): TrainerState {
  const state = JSON.parse(readFileSync(join(dir, "trainer.json"), "utf8")) as TrainerState;
  loadStateDict(model, readSafetensors(join(dir, "model.safetensors")).tensors, { source: join(dir, "model.safetensors") });
  const opt = readSafetensors(join(dir, "optimizer.safetensors"));
  optimizer.load({ tensors: opt.tensors as ReadonlyMap<string, StoredTensor>, step: Number(opt.metadata.step) }, join(dir, "optimizer.safetensors"));
  return state;
}

/** The model that scored best on the validation split so far (`<runDir>/best/`): when and how well. */
export interface BestModel {
  epoch: number;
  step: number;
  score: number;
  metric: string;
  /** the folder holding model.safetensors (an `init` for later tasks) */
  dir: string;
}

/** Keep the model's weights as the best so far: `<runDir>/best/model.safetensors` and `best.json`, replaced atomically. */
export function saveBestModel(runDir: string, model: Module, best: Omit<BestModel, "dir">): BestModel {
  const dir = join(runDir, "best");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "model.safetensors");
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeSafetensors(tmp, moduleToStored(model), { format: "polyalign", step: String(best.step), selected: JSON.stringify(best) });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CheckpointError(`saving the best model in ${dir} failed (the previous best is untouched): ${(e as Error).message}`, dir, { cause: e });
  }
  const out = { ...best, dir };
  writeFileAtomic(join(dir, "best.json"), JSON.stringify(out, null, 1) + "\n");
  return out;
}

/** The run's best model so far, or null. */
export function readBestModel(runDir: string): BestModel | null {
  const file = join(runDir, "best", "best.json");
  if (!existsSync(file)) return null;
  return { ...(JSON.parse(readFileSync(file, "utf8")) as BestModel), dir: join(runDir, "best") };
}

/** Load the best model's weights into `model` (strict). */
export function loadBestModel(best: BestModel, model: Module): void {
  const file = join(best.dir, "model.safetensors");
  loadStateDict(model, readSafetensors(file).tensors, { source: file });
}
