/** ALBEF's three pre-training objectives and word-region grounding, each in its own file with its loss and the parameters it owns. */
import { Objective, type PluginRegistry } from "../../core/index.ts";
import { ItcObjective, ItcOptions } from "./itc.ts";
import { ItmObjective, ItmOptions } from "./itm.ts";
import { MlmObjective, MlmOptions } from "./mlm.ts";
import { RegionsObjective, RegionsOptions } from "./regions.ts";

export function registerObjectives(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Objective,
    name: "itc",
    schema: ItcOptions,
    description: "image-text contrastive loss: projections, learnable temperature, momentum features and queues, momentum distillation",
    create: (cfg) => new ItcObjective(cfg),
  });
  registry.registerPlugin({
    kind: Objective,
    name: "itm",
    schema: ItmOptions,
    description: "image-text matching head with hard negatives drawn from the embedding head's similarities",
    create: (cfg) => new ItmObjective(cfg),
  });
  registry.registerPlugin({
    kind: Objective,
    name: "mlm",
    schema: MlmOptions,
    description: "masked language modelling on the fused text, with momentum soft labels",
    create: (cfg) => new MlmObjective(cfg),
  });
  registry.registerPlugin({
    kind: Objective,
    name: "regions",
    schema: RegionsOptions,
    description: "word-region grounding: each token that names an object puts its fusion attention on the object's patches (data.format.regions)",
    create: (cfg) => new RegionsObjective(cfg),
  });
}
