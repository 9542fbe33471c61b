export * from "./vision-language-model.ts";
export * from "./build-model.ts";
export * from "./alignment-step.ts";
export * from "./momentum-copies.ts";
export * from "./random-batch.ts";
export * from "./load-weights.ts";
export * from "./load-parts.ts";
