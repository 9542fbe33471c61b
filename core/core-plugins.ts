/**
 * Plugins that core itself provides: the backends. (Model plugins live in
 * `plugins/`; core knows none of them.)
 */
import { z } from "zod";
import { Backend } from "./registry/kinds.ts";
import type { PluginRegistry } from "./registry/registry.ts";
import { stockCpuProvider, tensorflowNodeProvider } from "./tensor/backend.ts";

const NoOptions = z.strictObject({});

export function registerCorePlugins(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Backend,
    name: "tensorflow",
    schema: NoOptions,
    description: "libtensorflow via @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (optional; used when installed)",
    create: () => tensorflowNodeProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu",
    schema: NoOptions,
    description: "the tfjs cpu backend (pure JS kernels)",
    create: () => stockCpuProvider(),
  });
}
