import { Objective, type PluginRegistry } from "../../core/index.ts";
import { ItcConfig, ItcObjective, ItmConfig, ItmObjective, MlmConfig, MlmObjective } from "./albef.ts";

export function registerObjectives(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Objective,
    name: "itc",
    schema: ItcConfig,
    description: "image-text contrastive loss: momentum encoders, feature queues, momentum distillation",
    create: (cfg) => new ItcObjective(cfg),
  });
  registry.registerPlugin({
    kind: Objective,
    name: "itm",
    schema: ItmConfig,
    description: "image-text matching with hard negatives drawn from the ITC similarities",
    create: (cfg) => new ItmObjective(cfg),
  });
  registry.registerPlugin({
    kind: Objective,
    name: "mlm",
    schema: MlmConfig,
    description: "masked language modelling on the fused text, with momentum soft labels",
    create: (cfg) => new MlmObjective(cfg.weight, cfg.probability),
  });
}
