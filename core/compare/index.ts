export * from "./compare-config.ts";
export * from "./plan.ts";
export * from "./stats.ts";
export * from "./collect.ts";
export * from "./report.ts";
export * from "./run-compare.ts";
