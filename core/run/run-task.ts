/**
 * Running a config's task into its run folder — what `polyalign train` does
 * and what `polyalign compare` does for every stage of every variant.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { PlainObject } from "../config/merge.ts";
import { DroppedSamples } from "../data/pipeline/dropped-samples.ts";
import { writeEffectiveConfig } from "../config/write.ts";
import { ConfigError, UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { Task, type TaskResult } from "../registry/kinds/task.ts";
import type { PluginRegistry } from "../registry/registry.ts";
import type { RunConfig } from "../config/schema.ts";
import { latestCheckpoint, readTrainerState, removeStaleCheckpointFolders } from "../train/checkpoints.ts";
import { checkResumeConfig } from "../train/resume.ts";
import { activateBackend, prepareRun } from "./prepare-run.ts";
import { joinWorld } from "../distributed/world.ts";
import { pinGpuByLocalRank } from "../distributed/gpu.ts";
import { acquireRunLock, RUN_LOCK } from "./run-lock.ts";
import type { RunContext } from "./run-context.ts";
import { writeRunPage } from "./run-page.ts";

export interface RunTaskOptions {
  sets?: readonly string[];
  /** continue from the folder's latest checkpoint */
  resume?: boolean;
  /** delete an earlier run in the folder first */
  fresh?: boolean;
  /** with resume: go on although the config's hyper-parameters differ from the checkpoint's */
  allowConfigChange?: boolean;
  log: Logger;
  out(line: string): void;
}

export interface FinishedRun {
  config: RunConfig;
  runDir: string;
  result: TaskResult;
}

/** A folder holds a run once it has metrics or checkpoints. */
export function holdsRun(runDir: string): boolean {
  return existsSync(join(runDir, "metrics.jsonl")) || existsSync(join(runDir, "checkpoints"));
}

export async function runConfigTask(registry: PluginRegistry, source: string | PlainObject, opts: RunTaskOptions): Promise<FinishedRun> {
  if (opts.resume && opts.fresh) throw new UsageError("--resume and --fresh exclude each other");
  // one of several processes (mpirun, srun): join them before anything is read or written
  const world = joinWorld(opts.log);
  const log = world.isMain ? opts.log : rankLogger(opts.log, world.rank);
  const { config, scope, file } = await prepareRun(registry, source, { sets: opts.sets ?? [], log });
  if (!config.task) throw new ConfigError(`${file || "config"}: no task: section (e.g. task: {name: pretrain})`, "task", file);
  const runDir = join(config.runs, config.name);
  if (opts.allowConfigChange && !opts.resume) throw new UsageError("--allow-config-change goes with --resume");
  if (world.isMain && holdsRun(runDir) && !opts.resume && !opts.fresh) {
    throw new UsageError(`${runDir} already holds a run; --resume continues it, --fresh starts over, --set name=... picks another folder`);
  }
  // rank 0 owns the run folder: its lock, its cleaning, its config; the others read it once rank 0 is done
  const release = world.isMain ? acquireRunLock(runDir, log) : () => {};
  try {
    if (world.isMain) {
      // under the lock, a temp folder of a writer that is gone is debris of a crash
      const debris = removeStaleCheckpointFolders(runDir);
      if (debris.length > 0) log.info(`removed ${debris.length} unfinished checkpoint folder(s) of a crashed run: ${debris.join(", ")}`);
    }
    if (opts.resume) checkResumable(runDir, config, !!opts.allowConfigChange, log);
    if (opts.fresh && world.isMain) clearRunFolder(runDir);
    const workers = Number((config.data as { workers?: number } | undefined)?.workers ?? 2);
    // the node's cores shared by its ranks
    const threads = config.threads ?? Math.max(1, Math.floor(availableParallelism() / world.localSize) - workers);
    const gpu = pinGpuByLocalRank(world);
    const backend = await activateBackend(scope, threads);
    if (world.size > 1) {
      const device = backend.backend === "tensorflow" ? `, GPU ${process.env.CUDA_VISIBLE_DEVICES ?? "all"}${gpu ? ` (${gpu})` : ""}` : "";
      opts.log.info(`${world.description}: backend ${backend.backend} (${backend.kernels.split(":")[0]})${device}, ${backend.threads} compute thread(s)`);
    }
    if (world.isMain) writeEffectiveConfig(runDir, config);
    await world.barrier();
    const task = scope.resolve(Task);
    const ctx: RunContext = {
      scope,
      runDir,
      resume: !!opts.resume,
      backend,
      world,
      out: world.isMain ? opts.out : () => {},
      dropped: new DroppedSamples(log, "evaluation"),
    };
    const result = await task.run(ctx);
    if (world.isMain) {
      // the run's results are written by now: a page that cannot be drawn costs a warning, not the run
      try {
        result.artifacts = { ...result.artifacts, report: await writeRunPage(runDir) };
      } catch (e) {
        log.warn(`report.html not written: ${(e as Error).message}`);
      }
    }
    return { config, runDir, result };
  } finally {
    release();
  }
}

/** A non-zero rank's logger: its warnings and errors, marked with the rank; rank 0 tells the run's progress. */
function rankLogger(log: Logger, rank: number): Logger {
  const tag = (m: string) => `rank ${rank}: ${m}`;
  return {
    debug: () => {},
    info: () => {},
    warn: (m, f) => log.warn(tag(m), f),
    error: (m, f) => log.error(tag(m), f),
    child: (s) => rankLogger(log.child(s), rank),
  };
}

/** Before anything is written: the latest checkpoint's config against this one (RESUMABLE_CHANGES may differ). */
function checkResumable(runDir: string, config: RunConfig, allow: boolean, log: Logger): void {
  const dir = latestCheckpoint(runDir);
  if (!dir) return; // the task says there is nothing to resume from
  const changed = checkResumeConfig(readTrainerState(dir).config, config, allow);
  if (changed.length > 0) log.warn(`--resume --allow-config-change: going on with ${changed.join(", ")} changed since the checkpoint`);
}

/** An earlier run's files go (--fresh); the lock this run holds stays. */
function clearRunFolder(runDir: string): void {
  if (!existsSync(runDir)) return;
  for (const f of readdirSync(runDir)) if (f !== RUN_LOCK) rmSync(join(runDir, f), { recursive: true, force: true });
}
