export * from "./launch.ts";
export * from "./mpi-addon.ts";
export * from "./world.ts";
export * from "./gradient-buckets.ts";
