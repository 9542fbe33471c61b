/**
 * The `vqa` task end to end on the built-in questions: pre-train a tiny model,
 * fine-tune ALBEF's generative VQA from it (the answer decoder starts from the
 * fusion layers), rank the answer list, report accuracy.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { readSafetensors, readShards, resolveWeightsFile, ShardWriter, toFloat32 } from "../../../../core/index.ts";
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
    // the evaluation server's file: one {question_id, answer} per test question (the built-in set has no ids: the sample key)
    const result = JSON.parse(readFileSync(join(run, "vqa_result.json"), "utf8")) as { question_id: string | number; answer: string }[];
    assert.equal(result.length, 16);
    assert.ok(
      result.every((x) => typeof x.question_id === "string" && x.question_id.startsWith("test") && typeof x.answer === "string" && Object.keys(x).length === 2),
    );

    // test-dev: questions with VQA ids and no answers — no accuracy, only the result file with their ids
    const writer = new ShardWriter({ pattern: join(tmp.path, "testdev-%06d.tar") });
    let qid = 4000;
    for await (const smp of readShards([join(tmp.path, "synth", "test-000000.tar")])) {
      const meta = JSON.parse(new TextDecoder().decode(smp.files.json)) as { vqa: { question: string }[] };
      await writer.write({
        key: smp.key,
        files: { jpg: smp.files.jpg, json: JSON.stringify({ question_id: qid++, vqa: [{ question: meta.vqa[0].question, answers: [] }] }) },
      });
    }
    await writer.close();
    const dev = {
      ...vqa,
      name: "vqa-dev",
      task: { ...vqa.task, init: run, epochs: 1, evalBefore: false, answerList: null },
      data: { ...vqa.data, test: join(tmp.path, "testdev-000000.tar") },
    };
    writeFileSync(join(tmp.path, "vqa-dev.yaml"), stringify(dev));
    const d = await cli("train", "--config", join(tmp.path, "vqa-dev.yaml"));
    assert.equal(d.code, 0, d.out);
    const devSummary = JSON.parse(readFileSync(join(tmp.path, "runs", "vqa-dev", "summary.json"), "utf8")) as {
      accuracy: number | null;
      answered_questions: number;
    };
    assert.equal(devSummary.accuracy, null);
    assert.equal(devSummary.answered_questions, 0);
    const devResult = JSON.parse(readFileSync(join(tmp.path, "runs", "vqa-dev", "vqa_result.json"), "utf8")) as { question_id: number }[];
    assert.deepEqual(
      devResult.map((x) => x.question_id),
      Array.from({ length: 16 }, (_, i) => 4000 + i),
    );
  });

  it("a config without questions names data.format.qa", async () => {
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "noqa" });
    writeFileSync(join(tmp.path, "noqa.yaml"), stringify({ ...cfg, task: { name: "vqa" } }));
    const r = await cli("train", "--config", join(tmp.path, "noqa.yaml"));
    assert.notEqual(r.code, 0);
    assert.match(r.out, /data\.format\.qa/);
  });
});
