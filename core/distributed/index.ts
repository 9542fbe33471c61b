export * from "./launch.ts";
export * from "./mpi-addon.ts";
export * from "./world.ts";
export * from "./gradient-buckets.ts";
export * from "./broadcast-state.ts";
export * from "./state-hash.ts";
export * from "./gpu.ts";
