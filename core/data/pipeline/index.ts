export * from "./shard-order.ts";
export * from "./shuffle-buffer.ts";
export * from "./sample-stream.ts";
