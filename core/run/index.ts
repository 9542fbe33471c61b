export * from "./prepare-run.ts";
export * from "./run-context.ts";
export * from "./sections.ts";
export * from "./run-report.ts";
export * from "./run-task.ts";
export * from "./run-page.ts";
export * from "./evaluate-checkpoint.ts";
