export * from "./dtype.ts";
export * from "./safetensors.ts";
export * from "./state-dict.ts";
export * from "./albef-names.ts";
export * from "./pos-embed.ts";
export * from "./initial-weights.ts";
export * from "./weights-file.ts";
export { PyDict, PyObject, PyTuple, type PyValue, unpickle } from "./pytorch/pickle.ts";
export { readTorchFile } from "./pytorch/torch-file.ts";
