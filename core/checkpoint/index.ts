export * from "./dtype.ts";
export * from "./safetensors.ts";
export * from "./state-dict.ts";
export * from "./albef-names.ts";
export * from "./pos-embed.ts";
export * from "./initial-weights.ts";
