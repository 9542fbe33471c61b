export * from "./vision-language-model.ts";
export * from "./random-batch.ts";
