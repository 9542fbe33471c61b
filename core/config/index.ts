export * from "./schema.ts";
export * from "./merge.ts";
export * from "./overrides.ts";
export * from "./load.ts";
export * from "./validate.ts";
export * from "./write.ts";
