export * from "./shard-order.ts";
export * from "./shuffle-buffer.ts";
export * from "./sample-stream.ts";
export * from "./sample-processor.ts";
export * from "./transform-pool.ts";
export * from "./batch-loader.ts";
export * from "./data-config.ts";
