/**
 * The `vqa` task end to end on the built-in questions: pre-train a tiny model,
 * fine-tune ALBEF's generative VQA from it (the answer decoder starts from the
 * fusion layers), rank the answer list, report accuracy.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { readSafetensors, resolveWeightsFile, toFloat32 } from "../../../../core/index.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

describe("plugins/tasks/vqa", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("fine-tunes from a pre-training run (decoder from the fusion layers and the MLM head) and reports VQA accuracy", async () => {
    const fusion = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 };
    const pretrained = await pretrainTinyBase(tmp.path, fusion, "base");
    const cfg = tinyConfig(tmp.path, fusion, { name: "vqa" });
    const vqa = {
      ...cfg,
      task: { name: "vqa", init: pretrained, epochs: 1, kTest: 4, evalBefore: true, logEvery: 1, evalBatchSize: 5 },
      data: { ...cfg.data, format: { qa: "json:vqa" } },
    };
    writeFileSync(join(tmp.path, "vqa.yaml"), stringify(vqa));
    const r = await cli("train", "--config", join(tmp.path, "vqa.yaml"));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /initial weights: \d+ tensors from .*base/);
    assert.doesNotMatch(r.out, /fresh: .*text_decoder/, "every decoder weight came from the pre-trained model");
    const run = join(tmp.path, "runs", "vqa");
    assert.ok((JSON.parse(readFileSync(join(run, "init-report.json"), "utf8")) as { parts: { loaded: number }[] }).parts[0].loaded > 0);
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
      steps: number;
      test_questions: number;
      answers: number;
      accuracy: number;
      accuracy_before: number;
    };
    assert.equal(summary.steps, 6);
    assert.equal(summary.test_questions, 16);
    assert.ok(summary.answers >= 4);
    for (const v of [summary.accuracy, summary.accuracy_before]) assert.ok(v >= 0 && v <= 100);
    const rows = readFileSync(join(run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.ok(rows.every((x) => Number.isFinite(x.vqa) && x.vqa > 0));
    // decoder layer 0 started as fusion layer 0 (6 steps at lr ≤ 1e-3 move a weight by ≤ 6e-3)
    const ft = readSafetensors(resolveWeightsFile(run)).tensors;
    const pre = readSafetensors(resolveWeightsFile(pretrained)).tensors;
    const a = toFloat32(ft.get("text_decoder.layer.0.attention.self.query.weight")!);
    const b = toFloat32(pre.get("fusion.layer.0.attention.self.query.weight")!);
    assert.ok(a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) < 0.01);
    const e = toFloat32(ft.get("text_decoder.text.bert.embeddings.word_embeddings.weight")!);
    const eb = toFloat32(pre.get("text_encoder.bert.embeddings.word_embeddings.weight")!);
    assert.ok(e.reduce((m, v, i) => Math.max(m, Math.abs(v - eb[i])), 0) < 0.01);
  });

  it("a config without questions names data.format.qa", async () => {
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "noqa" });
    writeFileSync(join(tmp.path, "noqa.yaml"), stringify({ ...cfg, task: { name: "vqa" } }));
    const r = await cli("train", "--config", join(tmp.path, "noqa.yaml"));
    assert.notEqual(r.code, 0);
    assert.match(r.out, /data\.format\.qa/);
  });
});
