export * from "./hf-uri.ts";
export * from "./hub-download.ts";
export * from "./resolve.ts";
