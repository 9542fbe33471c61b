import { type PluginRegistry, Task } from "../../core/index.ts";
import { PretrainConfig, PretrainTask } from "./pretrain.ts";

export function registerTasks(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Task,
    name: "pretrain",
    schema: PretrainConfig,
    description: "ALBEF pre-training (ITC/ITM/MLM) with checkpoints and resume, then zero-shot retrieval",
    create: (cfg) => new PretrainTask(cfg),
  });
}
