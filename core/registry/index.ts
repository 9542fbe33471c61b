export * from "./kinds/index.ts";
export * from "./registry.ts";
export * from "./run-scope.ts";
export * from "./loader.ts";
