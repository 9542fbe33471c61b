import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  assertNoTensorLeak,
  AlignmentStep,
  buildVisionLanguageModel,
  createLogger,
  prepareRun,
  readSafetensors,
  resolveWeightsFile,
  Rng,
  type StoredTensor,
  tf,
  Tokenizer,
  Trainer,
  OptimConfig,
  writeSafetensors,
} from "../../../../core/index.ts";
import { builtinRegistry } from "../../../../plugins/index.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

const quiet = createLogger({ level: "error" });

function losses(file: string): Record<string, number>[] {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number>);
}

describe("plugins/tasks/pretrain", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("trains end to end (hypergraph fusion), writes metrics, checkpoints, loss curve and a summary with retrieval", async () => {
    const cfgFile = join(tmp.path, "tiny.yaml");
    writeFileSync(cfgFile, stringify(tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 })));
    const r = await cli("train", "--config", cfgFile);
    assert.equal(r.code, 0, r.out);
    const run = join(tmp.path, "runs", "tiny");
    for (const f of ["config.yaml", "metrics.jsonl", "loss.png", "summary.json", "summary.md", "checkpoints/latest.json"])
      assert.ok(existsSync(join(run, f)), f);
    const rows = losses(join(run, "metrics.jsonl"));
    assert.equal(rows.length, 6, "48 samples / batch 8 = 6 steps");
    for (const row of rows) for (const k of ["loss", "itc", "itm", "mlm", "lr"]) assert.ok(Number.isFinite(row[k]), `${k} at step ${row.step}`);
    const bimodal = rows[0].bimodal_fraction_layer0;
    assert.ok(bimodal >= 0 && bimodal <= 1, `the bimodal-hyperedge fraction is logged (${bimodal})`);
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
      retrieval: { n: number; chance: { i2t: { r1: number }; t2i: { r1: number } } };
      steps: number;
    };
    assert.equal(summary.steps, 6);
    assert.equal(summary.retrieval.n, 16);
    assert.equal(summary.retrieval.chance.i2t.r1 >= 100 / 16, true);
    assert.equal(summary.retrieval.chance.t2i.r1 >= 100 / 16, true);
    const binding = (summary as unknown as { binding: { pairs: number; itcPairs: number } }).binding;
    assert.ok(binding.pairs > 0 && binding.itcPairs >= 0 && binding.itcPairs <= 100, "the built-in test set carries binding negatives");
    assert.match(readFileSync(join(run, "summary.md"), "utf8"), /## Attribute binding/);
    const again = await cli("train", "--config", cfgFile);
    assert.equal(again.code, 2);
    assert.match(again.out, /already holds a run; --resume continues it, --fresh starts over/);
  });

  it("starts from parts as ALBEF does (task.init {vision: timm ViT, text: HF BERT}): the hypergraph fusion's branch starts new with the pre-trained bias; init-report.json says what was loaded", async () => {
    const base = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "parts-base");
    const weights = readSafetensors(resolveWeightsFile(base)).tensors;
    const vit = new Map<string, StoredTensor>();
    const bert = new Map<string, StoredTensor>();
    for (const [n, t] of weights) {
      if (n.startsWith("visual_encoder.")) vit.set(n.slice("visual_encoder.".length), t);
      else if (n.startsWith("text_encoder.")) bert.set(n.slice("text_encoder.".length), t);
      else if (n.startsWith("fusion.layer.0.") && !n.includes("crossattention")) bert.set(`bert.encoder.layer.1.${n.slice("fusion.layer.0.".length)}`, t);
    }
    writeSafetensors(join(tmp.path, "vit.safetensors"), vit);
    writeSafetensors(join(tmp.path, "bert.safetensors"), bert);
    const cfg = tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: "from-parts" });
    const file = join(tmp.path, "from-parts.yaml");
    writeFileSync(
      file,
      stringify({
        ...cfg,
        task: { ...cfg.task, evalRetrieval: false, init: { vision: join(tmp.path, "vit.safetensors"), text: join(tmp.path, "bert.safetensors") } },
      }),
    );
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /initial weights \(vision\): \d+ tensors from .*vit\.safetensors/);
    assert.match(r.out, /initial weights \(text\): \d+ tensors from .*bert\.safetensors/);
    assert.match(r.out, /fusion: hypergraph branch bias β = -3 in layers 0/);
    const report = JSON.parse(readFileSync(join(tmp.path, "runs", "from-parts", "init-report.json"), "utf8")) as {
      parts: { part: string; loaded: number }[];
      fresh: string[];
    };
    assert.deepEqual(
      report.parts.map((p) => p.part),
      ["vision", "text"],
    );
    assert.equal(report.parts[0].loaded, vit.size);
    assert.ok(report.fresh.includes("fusion.layer.0.crossattention.self.query.weight"));
    assert.ok(report.fresh.some((n) => n.startsWith("fusion.layer.0.hypergraph")));
  });

  it("gradient accumulation: 6 micro-batches of 8 are 3 optimizer steps; the ITC queue takes a step's 16 columns at once (a queue of 8 cannot)", async () => {
    const base = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "accumulate" });
    const cfg = (queue: number, name: string) => ({
      ...base,
      name,
      objectives: [{ name: "itc", queue, embedDim: 8 }, { name: "itm" }, { name: "mlm" }],
      task: { ...base.task, evalRetrieval: false, evalBinding: false },
      optim: { ...base.optim, accumulate: 2 },
    });
    writeFileSync(join(tmp.path, "acc.yaml"), stringify(cfg(16, "acc")));
    const r = await cli("train", "--config", join(tmp.path, "acc.yaml"));
    assert.equal(r.code, 0, r.out);
    assert.equal(losses(join(tmp.path, "runs", "acc", "metrics.jsonl")).length, 3);
    writeFileSync(join(tmp.path, "acc8.yaml"), stringify(cfg(8, "acc8")));
    const bad = await cli("train", "--config", join(tmp.path, "acc8.yaml"));
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /the ITC queue \(8\) must be a multiple of the batch size × accumulation × processes \(16/);
  });

  it("resume continues the same trajectory: 2 + resume + 4 steps give the losses of 6 uninterrupted steps", async () => {
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "full" });
    const full = join(tmp.path, "full.yaml");
    writeFileSync(full, stringify(cfg));
    assert.equal((await cli("train", "--config", full)).code, 0);
    const runA = join(tmp.path, "runs", "full");
    // a run that stopped after step 2: its folder holds just the step-2 checkpoint
    const runB = join(tmp.path, "runs", "part");
    mkdirSync(join(runB, "checkpoints"), { recursive: true });
    cpSync(join(runA, "checkpoints", "step-0000002"), join(runB, "checkpoints", "step-0000002"), { recursive: true });
    writeFileSync(join(runB, "checkpoints", "latest.json"), JSON.stringify({ step: 2, dir: join(runB, "checkpoints", "step-0000002") }));
    const part = join(tmp.path, "part.yaml");
    writeFileSync(part, stringify({ ...cfg, name: "part" }));
    const r = await cli("train", "--config", part, "--resume");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /resumed from .*step-0000002 \(step 2, epoch 0\)/);
    const a = losses(join(runA, "metrics.jsonl")).slice(2);
    const b = losses(join(runB, "metrics.jsonl"));
    assert.deepEqual(
      b.map((x) => x.step),
      [3, 4, 5, 6],
    );
    for (let i = 0; i < a.length; i++) {
      for (const k of ["loss", "itc", "itm", "mlm"]) assert.ok(Math.abs(a[i][k] - b[i][k]) <= 1e-5, `step ${a[i].step} ${k}: ${a[i][k]} vs ${b[i][k]}`);
    }
  });

  it("memory stays flat over 20 training steps (hypergraph fusion, all three objectives)", async () => {
    const cfg = tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 });
    const { scope } = await prepareRun(builtinRegistry(), cfg, { log: quiet });
    const tok = scope.resolve(Tokenizer);
    const model = buildVisionLanguageModel(scope, { batchSize: 8, imageIds: false });
    const rng = new Rng(3);
    const trainer = new Trainer(model, [...model.trainable()], {
      runDir: join(tmp.path, "runs", "mem"),
      optim: OptimConfig.parse({ warmupSteps: 2 }),
      totalSteps: 1000,
      checkpointEvery: 0,
      keepCheckpoints: 1,
      logEvery: 1000,
      log: quiet,
      rng,
      config: {},
    });
    const vars = [...model.trainable()];
    const ids = tf.tensor2d(
      Array.from({ length: 8 * 6 }, (_, i) => (i % 6 === 0 ? tok.special.cls : 5 + (i % 20))),
      [8, 6],
      "int32",
    );
    const mask = tf.ones([8, 6], "int32");
    const images = tf.randomNormal([8, 3, 16, 16], 0, 1, "float32", 1);
    await assertNoTensorLeak(
      async () => {
        trainer.beginMicroStep();
        const step = new AlignmentStep(model, { images, ids, mask }, { alpha: 0.4, rng, special: tok.special, vocabSize: tok.vocabSize });
        step.prepare();
        const { value, grads } = tf.variableGrads(
          () => step.loss(),
          vars.map(([, v]) => v),
        );
        const loss = value.dataSync()[0];
        value.dispose();
        const byName: Record<string, tf.Tensor> = {};
        for (const [n, v] of vars) byName[n] = grads[v.name];
        step.finish();
        await trainer.addMicroStep({ loss, parts: {}, grads: byName }, 8, null);
      },
      20,
      2,
    );
    tf.dispose([ids, mask, images]);
    trainer.dispose();
    model.dispose();
  });

  it("the momentum update frees its temporaries parameter by parameter (peak below one model copy; all at once would be two)", async () => {
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" });
    const { scope } = await prepareRun(builtinRegistry(), cfg, { log: quiet });
    const model = buildVisionLanguageModel(scope, { batchSize: 8, imageIds: false });
    const modelBytes = [...model.trainable()].reduce((a, [, v]) => a + v.size * 4, 0);
    const start = tf.memory().numBytes;
    const profile = await tf.profile(() => model.momentumUpdate());
    assert.ok(profile.peakBytes - start < modelBytes, `peak extra ${profile.peakBytes - start} B, model ${modelBytes} B`);
    assert.equal(tf.memory().numBytes, start);
    model.dispose();
  });
});
