export * from "./adamw.ts";
