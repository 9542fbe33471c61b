export * from "./webdataset/index.ts";
export * from "./pipeline/index.ts";
export * from "./text/index.ts";
export * from "./image/index.ts";
export * from "./synth/index.ts";
export * from "./sources/index.ts";
