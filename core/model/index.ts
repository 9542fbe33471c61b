export * from "./vision-language-model.ts";
export * from "./random-batch.ts";
export * from "./pretrain-model.ts";
export * from "./albef-math.ts";
export * from "./pretrain-step.ts";
export * from "./build-pretrain-model.ts";
export * from "./fusion-dims.ts";
export * from "./layered-fusion.ts";
