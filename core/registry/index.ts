export * from "./kinds.ts";
export * from "./registry.ts";
export * from "./run-scope.ts";
export * from "./loader.ts";
