export * from "./ops.ts";
export * from "./js-ops.ts";
export * from "./addon.ts";
export * from "./install.ts";
export * from "./shapes.ts";
