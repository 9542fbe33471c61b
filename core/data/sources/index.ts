export * from "./image-text-sources.ts";
export * from "./karpathy.ts";
export * from "./nlvr2-sources.ts";
export * from "./refcoco-sources.ts";
export * from "./sample-record.ts";
export * from "./vqa-sources.ts";
export * from "./write-samples.ts";
