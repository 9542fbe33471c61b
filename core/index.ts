/** polyalign core: the framework's public API (what plugins import, and what user plugin modules are handed). */
export * from "./errors.ts";
export * from "./log.ts";
export * from "./util/nearest.ts";
export * from "./util/atomic-file.ts";
export * from "./util/progress-bar.ts";
export * from "./tensor/index.ts";
export * from "./native/index.ts";
export * from "./registry/index.ts";
export * from "./config/index.ts";
export * from "./checkpoint/index.ts";
export * from "./hub/index.ts";
export * from "./model/index.ts";
export * from "./data/index.ts";
export * from "./core-plugins.ts";
export * from "./run/index.ts";
/** zod, re-exported so that user plugin modules share polyalign's copy. */
export { z } from "zod";
/** What user plugin modules receive as their second argument: this module's namespace. */
export type PolyalignApi = typeof import("./index.ts");
export * from "./train/index.ts";
export * from "./eval/index.ts";
export * from "./plot/index.ts";
export * from "./util/escape-markup.ts";
export * from "./compare/index.ts";
export * from "./util/bicubic.ts";
export * from "./distributed/index.ts";
