/** The Task kind: a job a config runs (pre-train, fine-tune, evaluate). */
import { defineKind } from "./define.ts";

export interface TaskResult {
  metrics: Record<string, number>;
  /** files the task wrote, by role (`checkpoint`, `summary`, ...) */
  artifacts?: Record<string, string>;
}

/** What a task is handed when it runs: `RunContext` (core/run) extends this; the kind names only what it needs, so that it imports nothing of the run. */
export interface TaskContextLike {
  readonly runDir: string;
}

/** A job driven from config: pre-training, a fine-tuning, an evaluation. */
export interface Task<Ctx extends TaskContextLike = TaskContextLike> {
  readonly name: string;
  run(ctx: Ctx): Promise<TaskResult>;
}
export const Task = defineKind<Task>("Task", "a job: pretrain, fine-tune, evaluate");
