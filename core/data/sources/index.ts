export * from "./image-text-sources.ts";
