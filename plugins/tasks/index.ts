import { type PluginRegistry, Task } from "../../core/index.ts";
import { PretrainConfig, PretrainTask } from "./pretrain/task.ts";
import { RetrievalConfig, RetrievalTask } from "./retrieval/task.ts";
import { BindingConfig, BindingTask } from "./binding/task.ts";
import { GroundingConfig, GroundingTask } from "./grounding/task.ts";
import { NlvrConfig, NlvrTask } from "./nlvr/task.ts";
import { NlvrPretrainConfig, NlvrPretrainTask } from "./nlvr/pretrain-task.ts";
import { VqaConfig, VqaTask } from "./vqa/task.ts";

export function registerTasks(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Task,
    name: "pretrain",
    schema: PretrainConfig,
    description: "ALBEF pre-training (ITC/ITM/MLM) with checkpoints and resume, then zero-shot retrieval",
    create: (cfg) => new PretrainTask(cfg),
  });
  registry.registerPlugin({
    kind: Task,
    name: "retrieval",
    schema: RetrievalConfig,
    description: "ALBEF retrieval fine-tuning (ITC with image-id positives + ITM) from pre-trained weights, then ITC + ITM-re-ranked evaluation",
    create: (cfg) => new RetrievalTask(cfg),
  });
  registry.registerPlugin({
    kind: Task,
    name: "grounding",
    schema: GroundingConfig,
    description: "weakly-supervised visual grounding: Grad-CAM (ITM: a fusion layer's text→image attention; ITC: a ViT block) picks the candidate box",
    create: (cfg) => new GroundingTask(cfg),
  });
  registry.registerPlugin({
    kind: Task,
    name: "binding",
    schema: BindingConfig,
    description: "attribute binding: each test caption against its swapped-attribute negatives, by ITC similarity and ITM logit (chance 50 %)",
    create: (cfg) => new BindingTask(cfg),
  });
  registry.registerPlugin({
    kind: Task,
    name: "nlvr",
    schema: NlvrConfig,
    description: "ALBEF NLVR2 fine-tuning: paired fusion layers over two images, classifier, momentum distillation; test accuracy",
    create: (cfg) => new NlvrTask(cfg),
  });
  registry.registerPlugin({
    kind: Task,
    name: "nlvr-pretrain",
    schema: NlvrPretrainConfig,
    description: "ALBEF's text-assignment pre-training for NLVR2: is a caption of the first image of a pair, the second, or neither",
    create: (cfg) => new NlvrPretrainTask(cfg),
  });
  registry.registerPlugin({
    kind: Task,
    name: "vqa",
    schema: VqaConfig,
    description: "ALBEF VQA fine-tuning: answer decoder from the fusion layers, weighted answers, distillation; rank_answer over an answer list",
    create: (cfg) => new VqaTask(cfg),
  });
}
