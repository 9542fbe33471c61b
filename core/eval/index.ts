export * from "./retrieval.ts";
