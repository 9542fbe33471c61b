/**
 * The `nlvr` task end to end on built-in image pairs: pre-train a tiny model,
 * fine-tune ALBEF's NLVR2 model from it (fusion layers doubled into pairs),
 * report test accuracy; configuration errors name the field.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { readSafetensors, resolveWeightsFile, toFloat32 } from "../../../../core/index.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

describe("plugins/tasks/nlvr", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  function nlvrConfig(
    name: string,
    fusion: Record<string, unknown>,
    task: Record<string, unknown>,
    format: Record<string, unknown> = { imageMembers: ["img0.jpg", "img1.jpg"], text: "json:statement", label: "json:label" },
  ) {
    const cfg = tinyConfig(tmp.path, fusion, { name });
    return {
      ...cfg,
      task: { name: "nlvr", epochs: 1, logEvery: 1, evalBatchSize: 5, ...task },
      data: {
        ...cfg.data,
        train: join(tmp.path, "synth", "nlvr-train-000000.tar"),
        test: join(tmp.path, "synth", "nlvr-test-000000.tar"),
        format,
      },
    };
  }

  it("fine-tunes from a pre-training run (each fusion layer initialises both layers of its pair) and reports test accuracy", async () => {
    for (const fusion of [{ name: "cross-attention" }, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }]) {
      const pretrained = await pretrainTinyBase(tmp.path, fusion, `base-${fusion.name}`, { pairs: 24 });
      const cfg = nlvrConfig(`nlvr-${fusion.name}`, fusion, { init: pretrained, evalBefore: true });
      cfg.data = { ...cfg.data, synth: { ...cfg.data.synth, pairs: 24 } };
      writeFileSync(join(tmp.path, "nlvr.yaml"), stringify(cfg));
      const r = await cli("train", "--config", join(tmp.path, "nlvr.yaml"));
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /initial weights: \d+ tensors from .*; fresh: the classifier/);
      const run = join(tmp.path, "runs", `nlvr-${fusion.name}`);
      const report = JSON.parse(readFileSync(join(run, "init-report.json"), "utf8")) as { parts: { part: string; loaded: number }[]; fresh: string[] };
      assert.equal(report.parts[0].part, "checkpoint");
      assert.ok(report.parts[0].loaded > 0 && report.fresh.includes("cls_head.0.weight"));
      const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
        steps: number;
        test_pairs: number;
        accuracy: number;
        accuracy_before: number;
        majority_class: number;
      };
      assert.equal(summary.steps, 3, "24 pairs / batch 8");
      assert.equal(summary.test_pairs, 24);
      for (const v of [summary.accuracy, summary.accuracy_before, summary.majority_class]) assert.ok(v >= 0 && v <= 100);
      const rows = readFileSync(join(run, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, number>);
      assert.ok(rows.every((x) => Number.isFinite(x.loss) && Number.isFinite(x.ce)));
      // the pair layers of the fine-tuned model came from the same pre-trained layer (they have since moved apart a little)
      const ft = readSafetensors(resolveWeightsFile(run)).tensors;
      const pre = readSafetensors(resolveWeightsFile(pretrained)).tensors;
      const name = "layer.0.crossattention.self.query.weight";
      const p = toFloat32(pre.get(`fusion.${name}`)!);
      for (const side of ["image0", "image1"]) {
        const f = toFloat32(ft.get(`fusion.${side}.${name}`)!);
        const moved = f.reduce((m, v, i) => Math.max(m, Math.abs(v - p[i])), 0);
        // 3 AdamW steps at lr ≤ 1e-3 move a weight by ≤ 3e-3; a fresh init would differ by ~0.05
        assert.ok(moved < 0.01, `${side} starts from the pre-trained layer (moved ${moved})`);
      }
    }
  });

  it("with data.val: the val accuracy after each epoch picks the model that is tested", async () => {
    const fusion = { name: "cross-attention" };
    const pretrained = await pretrainTinyBase(tmp.path, fusion, "base-sel", { pairs: 24 });
    const cfg = nlvrConfig("nlvr-sel", fusion, { init: pretrained, epochs: 2 });
    cfg.data = { ...cfg.data, synth: { ...cfg.data.synth, pairs: 24 }, val: cfg.data.test } as typeof cfg.data;
    writeFileSync(join(tmp.path, "nlvr-sel.yaml"), stringify(cfg));
    const r = await cli("train", "--config", join(tmp.path, "nlvr-sel.yaml"));
    assert.equal(r.code, 0, r.out);
    const summary = JSON.parse(readFileSync(join(tmp.path, "runs", "nlvr-sel", "summary.json"), "utf8")) as {
      accuracy: number;
      selection: { metric: string; best_score: number; by_epoch: { epoch: number; score: number }[] };
    };
    assert.equal(summary.selection.metric, "val accuracy");
    assert.equal(summary.selection.by_epoch.length, 2);
    assert.equal(summary.accuracy, summary.selection.best_score, "val = test here: the tested model is the best epoch's");
  });

  it("a config without two image members or without labels fails with the field to set", async () => {
    const noPair = nlvrConfig("bad1", { name: "cross-attention" }, {}, { text: "json:statement", label: "json:label" });
    writeFileSync(join(tmp.path, "bad1.yaml"), stringify(noPair));
    const r1 = await cli("train", "--config", join(tmp.path, "bad1.yaml"));
    assert.notEqual(r1.code, 0);
    assert.match(r1.out, /data\.format\.imageMembers/);
    const noLabel = nlvrConfig("bad2", { name: "cross-attention" }, {}, { imageMembers: ["img0.jpg", "img1.jpg"], text: "json:statement" });
    writeFileSync(join(tmp.path, "bad2.yaml"), stringify(noLabel));
    const r2 = await cli("train", "--config", join(tmp.path, "bad2.yaml"));
    assert.notEqual(r2.code, 0);
    assert.match(r2.out, /data\.format\.label/);
  });
});
