/**
 * ALBEF's text-assignment stage: the pair draw (own image + a similar one in
 * either place, or two others), and pre-training → TA → NLVR2 fine-tuning end
 * to end on the built-in data.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { Rng, readSafetensors, resolveWeightsFile, toFloat32 } from "../../../../core/index.ts";
import { drawTextAssignment } from "../../../../plugins/tasks/nlvr/text-assignment.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

describe("plugins/tasks/nlvr-pretrain (text assignment)", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("draws ALBEF's pairs: 2/3 the caption's image beside one ∝ the similarity weights (label = its place), 1/3 two others (label 2)", () => {
    const b = 4;
    // row i: all weight on image (i + 1) mod 4, none on itself
    const w = new Float32Array(b * b);
    for (let i = 0; i < b; i++) w[i * b + ((i + 1) % b)] = 1;
    const rng = new Rng(3);
    const labels = [0, 0, 0];
    for (let n = 0; n < 3000; n++) {
      const d = drawTextAssignment(w, b, rng);
      for (let i = 0; i < b; i++) {
        labels[d.labels[i]]++;
        const pair = [d.image0[i], d.image1[i]];
        if (d.labels[i] === 2) {
          assert.ok(!pair.includes(i) && pair[0] !== pair[1], `neither: two other images (${pair})`);
          assert.ok(pair.includes((i + 1) % b), "the first drawn ∝ the weights");
        } else {
          assert.equal(pair[d.labels[i]], i, "the label is where the caption's own image is");
          assert.equal(pair[1 - d.labels[i]], (i + 1) % b, "the other drawn ∝ the weights");
        }
      }
    }
    const total = labels.reduce((a, x) => a + x, 0);
    assert.ok(Math.abs(labels[2] / total - 1 / 3) < 0.02, `neither ${labels[2] / total}`);
    assert.ok(Math.abs(labels[0] / total - 1 / 3) < 0.02 && Math.abs(labels[1] / total - 1 / 3) < 0.02);
    assert.throws(() => drawTextAssignment(new Float32Array(4), 2, rng), /at least 3 images/);
  });

  it("pre-training → text assignment → NLVR2: TA starts from the pre-trained layers (both of each pair), NLVR2 from TA; accuracies against the commonest class", async () => {
    const fusion = { name: "cross-attention" };
    const pretrained = await pretrainTinyBase(tmp.path, fusion, "base-ta", { pairs: 24 });
    const base = tinyConfig(tmp.path, fusion, { name: "ta" });
    const ta = {
      ...base,
      task: { name: "nlvr-pretrain", init: pretrained, epochs: 2, logEvery: 1, evalBatchSize: 8 },
      data: { ...base.data, synth: { ...base.data.synth, pairs: 24 } },
    };
    writeFileSync(join(tmp.path, "ta.yaml"), stringify(ta));
    const r = await cli("train", "--config", join(tmp.path, "ta.yaml"));
    assert.equal(r.code, 0, r.out);
    const run = join(tmp.path, "runs", "ta");
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
      steps: number;
      accuracy: number;
      majority_class: number;
      test_pairs: number;
    };
    assert.equal(summary.steps, 12, "48 pairs / batch 8, 2 epochs");
    assert.equal(summary.test_pairs, 16);
    // the held-out draws mix the three answers (2/3 own image in either place, 1/3 neither): no class takes most of them
    assert.ok(summary.majority_class < 60, `commonest class ${summary.majority_class} %`);
    assert.ok(summary.accuracy >= 0 && summary.accuracy <= 100);
    const report = JSON.parse(readFileSync(join(run, "init-report.json"), "utf8")) as { fresh: string[] };
    assert.deepEqual(report.fresh.sort(), ["ta_head.bias", "ta_head.weight"], "all but the TA head from pre-training, vision_proj included");
    const tensors = readSafetensors(resolveWeightsFile(run)).tensors;
    assert.ok(tensors.has("fusion.image0.layer.0.crossattention.self.query.weight") && tensors.has("fusion.image1.layer.0.crossattention.self.query.weight"));
    const nlvr = {
      ...base,
      name: "nlvr-from-ta",
      task: { name: "nlvr", init: run, epochs: 1, logEvery: 1, evalBatchSize: 8 },
      data: {
        ...base.data,
        synth: { ...base.data.synth, pairs: 24 },
        train: join(tmp.path, "synth", "nlvr-train-000000.tar"),
        test: join(tmp.path, "synth", "nlvr-test-000000.tar"),
        format: { imageMembers: ["img0.jpg", "img1.jpg"], text: "json:statement", label: "json:label" },
      },
    };
    writeFileSync(join(tmp.path, "nlvr.yaml"), stringify(nlvr));
    const n = await cli("train", "--config", join(tmp.path, "nlvr.yaml"));
    assert.equal(n.code, 0, n.out);
    const ft = readSafetensors(resolveWeightsFile(join(tmp.path, "runs", "nlvr-from-ta"))).tensors;
    const name = "fusion.image1.layer.0.crossattention.self.query.weight";
    const a = toFloat32(ft.get(name)!);
    const t = toFloat32(tensors.get(name)!);
    assert.ok(a.reduce((m, v, i) => Math.max(m, Math.abs(v - t[i])), 0) < 0.01, "NLVR2's pair layers start from TA's");
    const nlvrSummary = JSON.parse(readFileSync(join(tmp.path, "runs", "nlvr-from-ta", "summary.json"), "utf8")) as {
      accuracy: number;
      majority_class: number;
    };
    assert.ok(nlvrSummary.accuracy >= 0 && nlvrSummary.accuracy <= 100);
    const bad = { ...ta, name: "ta-bad", data: { ...ta.data, format: { imageMembers: ["img0.jpg", "img1.jpg"] } } };
    writeFileSync(join(tmp.path, "bad.yaml"), stringify(bad));
    const b = await cli("train", "--config", join(tmp.path, "bad.yaml"));
    assert.notEqual(b.code, 0);
    assert.match(b.out, /data\.format\.imageMembers must be null/);
  });
});
