/** A tiny ALBEF run for the task specs: the config (built-in data, a few steps) and the CLI driven in-process. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { createLogger } from "../core/index.ts";
import { runCli } from "../cli/main.ts";
import { tempDir, useTestBackend } from "./helpers.ts";

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

/**
 * Registers before/after hooks (inside a `describe`) that give the specs a
 * fresh temporary folder and the test backend; returns the folder's path, readable from the first hook on.
 */
export function useTempRuns(): { readonly path: string } {
  let tmp: ReturnType<typeof tempDir> | null = null;
  before(async () => {
    tmp = tempDir();
    await useTestBackend();
  });
  after(async () => {
    tmp?.cleanup();
    await useTestBackend();
  });
  return {
    get path(): string {
      if (!tmp) throw new Error("useTempRuns: the folder exists from the before hook on");
      return tmp.path;
    },
  };
}

/** Pre-trains the tiny model (one epoch, no retrieval evaluation) in `dir/runs/<name>` and returns that run folder. */
export async function pretrainTinyBase(dir: string, fusion: Record<string, unknown>, name: string, synth: { pairs?: number } = {}): Promise<string> {
  const base = tinyConfig(dir, fusion, { name });
  const cfg = { ...base, task: { ...base.task, evalRetrieval: false }, data: { ...base.data, synth: { ...base.data.synth, ...synth } } };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(cfg));
  const r = await cli("train", "--config", file);
  if (r.code !== 0) throw new Error(`pre-training the tiny base model failed: ${r.out}`);
  return join(dir, "runs", name);
}
