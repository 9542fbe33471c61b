export * from "./webdataset/index.ts";
