/**
 * Plugins that core itself provides: the backends and the tokenizers (the
 * data workers build tokenizers without the plugins/ tree). Model plugins
 * live in `plugins/`; core knows none of them.
 */
import { z } from "zod";
import { Backend } from "./registry/kinds/index.ts";
import { registerTokenizerPlugins } from "./data/text/tokenizer-plugins.ts";
import type { PluginRegistry } from "./registry/registry.ts";
import { jsCpuProvider, nativeCpuProvider, stockCpuProvider, tensorflowNodeProvider } from "./tensor/backend.ts";

const NoOptions = z.strictObject({});

export function registerCorePlugins(registry: PluginRegistry): void {
  registerTokenizerPlugins(registry);
  registry.registerPlugin({
    kind: Backend,
    name: "tensorflow",
    schema: NoOptions,
    description: "libtensorflow via @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (optional; used when installed)",
    create: () => tensorflowNodeProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu-native",
    schema: NoOptions,
    description: "tfjs cpu backend + polyalign's native kernels (OpenBLAS sgemm, C elementwise); needs `npm run build:native`",
    create: () => nativeCpuProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu-js",
    schema: NoOptions,
    description: "tfjs cpu backend + polyalign's pure-JS kernels (the fallback when the addon is not built)",
    create: () => jsCpuProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu",
    schema: NoOptions,
    description: "the stock tfjs cpu backend",
    create: () => stockCpuProvider(),
  });
}
