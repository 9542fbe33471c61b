export * from "./retrieval.ts";
export * from "./itm-rerank.ts";
