export * from "./adamw.ts";
export * from "./schedule.ts";
export * from "./checkpoints.ts";
export * from "./progress.ts";
export * from "./trainer.ts";
export * from "./schedule-options.ts";
export * from "./training-loop.ts";
export * from "./alignment-training.ts";
