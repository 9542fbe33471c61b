export * from "./retrieval.ts";
export * from "./itm-rerank.ts";
export * from "./grad-cam.ts";
export * from "./grounding.ts";
