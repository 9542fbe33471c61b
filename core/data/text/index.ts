export * from "./clean.ts";
export * from "./encode.ts";
export * from "./wordpiece.ts";
export * from "./sentencepiece.ts";
export * from "./tokenizer-plugins.ts";
