export * from "./rgb.ts";
export * from "./decode.ts";
export * from "./random-resized-crop.ts";
export * from "./randaugment.ts";
export * from "./transform.ts";
export * from "./image-ops.ts";
