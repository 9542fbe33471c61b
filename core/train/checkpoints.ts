/**
 * Training checkpoints: `<runDir>/checkpoints/step-NNNNNNN/` holding
 * model.safetensors, optimizer.safetensors and trainer.json, written into a
 * temporary folder and renamed into place, then `latest.json` is replaced
 * atomically. A crash at any point leaves the previous checkpoint usable.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { processAlive } from "../util/process-alive.ts";
import { basename, join, relative } from "node:path";
import { CheckpointError } from "../errors.ts";
import { readSafetensors, type StoredTensor, writeSafetensors } from "../checkpoint/safetensors.ts";
import { moduleToStored, loadStateDict } from "../checkpoint/state-dict.ts";
import type { Module } from "../tensor/module.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";
import { faultPoint } from "../util/fault-point.ts";
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
  /** a data-parallel run's every rank's random state and data position, in rank order (rank 0's are also `rng` and `data`) */
  ranks?: { rng: [number, number, number, number]; data: unknown }[];
}

export function checkpointDir(runDir: string, step: number): string {
  return join(runDir, "checkpoints", `step-${String(step).padStart(7, "0")}`);
}

/** Temp and set-aside folders a killed writer left behind (`step-N.tmp-PID`, `step-N.old-PID` of a process that is gone) go; a set-aside step whose new copy never got its name is put back. Returns what went. */
export function removeStaleCheckpointFolders(runDir: string): string[] {
  const dir = join(runDir, "checkpoints");
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const d of readdirSync(dir)) {
    const m = /^(step-\d+)\.(tmp|old)-(\d+)$/.exec(d);
    if (!m || processAlive(Number(m[3]))) continue;
    // a set-aside copy whose replacement never got its name is that step's checkpoint: it goes back
    if (m[2] === "old" && !existsSync(join(dir, m[1]))) {
      renameSync(join(dir, d), join(dir, m[1]));
      continue;
    }
    rmSync(join(dir, d), { recursive: true, force: true });
    removed.push(d);
  }
  return removed;
}

/**
 * Write a checkpoint so that at every moment one is intact on disk: the new
 * one into a temp folder; if the step was saved before, that folder moves
 * aside, the new one takes its name, then the old one goes; then latest.json
 * (a path relative to the run folder) switches, then older steps beyond `keep`
 * are removed.
 */
export function saveCheckpoint(runDir: string, model: Module, optimizer: AdamW, state: TrainerState, keep = 2): string {
  const final = checkpointDir(runDir, state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old-${process.pid}`;
  try {
    removeStaleCheckpointFolders(runDir);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    writeSafetensors(join(tmp, "model.safetensors"), moduleToStored(model), {
      format: "polyalign",
      step: String(state.step),
      config: JSON.stringify(state.config),
    });
    const opt = optimizer.state();
    writeSafetensors(join(tmp, "optimizer.safetensors"), opt.tensors, { step: String(opt.step) });
    writeFileAtomic(join(tmp, "trainer.json"), JSON.stringify(state, null, 1) + "\n");
    faultPoint("checkpoint:written");
    const again = existsSync(final);
    if (again) renameSync(final, old);
    faultPoint("checkpoint:set-aside");
    renameSync(tmp, final);
    if (again) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(final) && existsSync(old)) renameSync(old, final);
    throw new CheckpointError(`saving checkpoint ${final} failed (the previous one is untouched): ${(e as Error).message}`, final, { cause: e });
  }
  faultPoint("checkpoint:renamed");
  writeFileAtomic(join(runDir, "checkpoints", "latest.json"), JSON.stringify({ step: state.step, dir: relative(runDir, final) }) + "\n");
  faultPoint("checkpoint:latest");
  const all = readdirSync(join(runDir, "checkpoints"))
    .filter((d) => /^step-\d+$/.test(d))
    .sort();
  for (const gone of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(runDir, "checkpoints", gone), { recursive: true, force: true });
  return final;
}

/** A checkpoint folder's trainer.json, or a CheckpointError naming the file (missing, unreadable, not JSON, no step). */
export function readTrainerState(dir: string): TrainerState {
  const file = join(dir, "trainer.json");
  let state: unknown;
  try {
    state = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read the checkpoint's trainer state: ${(e as Error).message.split("\n")[0]}`, file);
  }
  if (typeof state !== "object" || state === null || typeof (state as TrainerState).step !== "number")
    throw new CheckpointError(`${file}: not a trainer state (no step)`, file);
  return state as TrainerState;
}

/** All three files there, and trainer.json readable (a damaged one does not count). */
const intact = (d: string) => {
  if (!["trainer.json", "model.safetensors", "optimizer.safetensors"].every((f) => existsSync(join(d, f)))) return false;
  try {
    readTrainerState(d);
    return true;
  } catch {
    return false;
  }
};

/**
 * The checkpoint to resume from: latest.json's (relative to the run folder;
 * older runs wrote the path as the run saw it), else — latest.json missing,
 * damaged or naming a folder that is gone — the newest intact step folder.
 */
export function latestCheckpoint(runDir: string): string | null {
  const dir = join(runDir, "checkpoints");
  const file = join(dir, "latest.json");
  if (existsSync(file)) {
    try {
      const named = (JSON.parse(readFileSync(file, "utf8")) as { dir?: unknown }).dir;
      if (typeof named === "string") {
        const found = [join(runDir, named), named, join(dir, basename(named))].find((d) => existsSync(d) && intact(d));
        if (found) return found;
      }
    } catch {
      // a damaged latest.json: fall back to the folders themselves
    }
  }
  if (!existsSync(dir)) return null;
  const steps = readdirSync(dir)
    .filter((d) => /^step-\d+$/.test(d) && intact(join(dir, d)))
    .sort();
  return steps.length ? join(dir, steps[steps.length - 1]) : null;
}

export function loadCheckpoint(dir: string, model: Module, optimizer: AdamW): TrainerState {
  const state = readTrainerState(dir);
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
