export * from "./prepare-run.ts";
export * from "./run-context.ts";
