export * from "./prepare-run.ts";
