export * from "./keys.ts";
export * from "./tar-reader.ts";
export * from "./samples.ts";
export * from "./braces.ts";
export * from "./shard-list.ts";
export * from "./open.ts";
export * from "./writer.ts";
export * from "./reader.ts";
