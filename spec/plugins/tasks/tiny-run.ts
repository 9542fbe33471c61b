/** A tiny ALBEF run for the task specs: the config (built-in data, a few steps) and the CLI driven in-process. */
import { join } from "node:path";
import { createLogger } from "../../../core/index.ts";
import { runCli } from "../../../core/cli/main.ts";

const quiet = createLogger({ level: "error" });

export function tinyConfig(dir: string, fusion: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name: "tiny",
    seed: 7,
    backend: "auto",
    runs: join(dir, "runs"),
    tokenizer: { name: "wordpiece", vocab: join(dir, "synth", "vocab.txt"), maxLength: 24 },
    model: {
      vision: { name: "vit", imageSize: 16, patch: 8, width: 16, depth: 1, heads: 2 },
      text: { name: "bert", vocab: 64, width: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 32 },
      fusion: { heads: 2, intermediate: 32, layers: 1, ...fusion },
    },
    objectives: [{ name: "itc", queue: 16, embedDim: 8 }, { name: "itm" }, { name: "mlm" }],
    task: { name: "pretrain", epochs: 1, checkpointEvery: 2, keepCheckpoints: 5, logEvery: 1, evalMaxImages: 16 },
    data: {
      synth: { out: join(dir, "synth"), train: 48, val: 0, test: 16, pairs: 0, imageSize: 24 },
      train: join(dir, "synth", "train-000000.tar"),
      test: join(dir, "synth", "test-000000.tar"),
      batchSize: 8,
      workers: 0,
      shuffle: 16,
      image: { size: 16 },
    },
    optim: { lr: 1e-3, warmupSteps: 1, warmupLr: 1e-4 },
    ...extra,
  };
}

export async function cli(...argv: string[]) {
  const lines: string[] = [];
  const code = await runCli(argv, { out: (l) => lines.push(l), log: quiet });
  return { code, out: lines.join("\n") };
}
