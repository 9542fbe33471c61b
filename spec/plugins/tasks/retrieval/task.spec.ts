/**
 * The `retrieval` task end to end on the built-in data: pre-train a tiny model,
 * fine-tune it with ALBEF's retrieval recipe from that run, evaluate with every
 * caption of every test image; plus the initial-weights errors.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { expandShardSpec, readShards } from "../../../../core/index.ts";
import { imageIdOf } from "../../../../plugins/tasks/retrieval/task.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

interface Recalls {
  r1: number;
  r5: number;
  r10: number;
}
interface Metrics {
  images: number;
  texts: number;
  i2t: Recalls;
  t2i: Recalls;
  chance: { i2t: Recalls; t2i: Recalls };
  rMean: number;
}

describe("plugins/tasks/retrieval", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  let pretrained: string;
  before(async () => {
    pretrained = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "base");
  });

  function retrievalConfig(name: string, task: Record<string, unknown>, fusion: Record<string, unknown> = { name: "cross-attention" }) {
    const cfg = tinyConfig(tmp.path, fusion, { name });
    return {
      ...cfg,
      objectives: [{ name: "itc", queue: 16, embedDim: 8 }, { name: "itm" }],
      task: { name: "retrieval", epochs: 1, kTest: 10, evalMaxImages: 16, evalBatchSize: 5, logEvery: 1, ...task },
      data: { ...cfg.data, format: { text: "json:captions" } },
    };
  }

  it("fine-tunes from a pre-training run and evaluates every caption of every test image, before and after", async () => {
    const file = join(tmp.path, "ft.yaml");
    writeFileSync(file, stringify(retrievalConfig("ft", { init: pretrained, evalBefore: true })));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /initial weights \(checkpoint\): \d+ tensors from .*base.*model\.safetensors/);
    assert.match(r.out, /1 entry starts new \(idx_queue\); init-report.json lists them/);
    const run = join(tmp.path, "runs", "ft");
    const rows = readFileSync(join(run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(rows.length, 6);
    for (const row of rows) {
      assert.ok(Number.isFinite(row.itc) && Number.isFinite(row.itm), `step ${row.step}`);
      assert.equal(row.mlm, undefined);
    }
    let captions = 0;
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      captions += (JSON.parse(new TextDecoder().decode(s.files.json)) as { captions: string[] }).captions.length;
    }
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
      before: { itc: Metrics; itm: Metrics };
      after: { itc: Metrics; itm: Metrics };
      steps: number;
      k_test: number;
    };
    assert.equal(summary.steps, 6);
    assert.equal(summary.k_test, 10);
    for (const m of [summary.before.itc, summary.before.itm, summary.after.itc, summary.after.itm]) {
      assert.equal(m.images, 16);
      assert.equal(m.texts, captions);
      for (const d of [m.i2t, m.t2i]) for (const v of [d.r1, d.r5, d.r10]) assert.ok(v >= 0 && v <= 100);
      assert.ok(m.i2t.r1 <= m.i2t.r5 && m.i2t.r5 <= m.i2t.r10);
      assert.equal(m.chance.t2i.r1, 100 / 16);
    }
    assert.ok(captions > 16, "the built-in data set has several captions per image");
    const md = readFileSync(join(run, "summary.md"), "utf8");
    assert.match(md, /before fine-tuning, ITC \+ ITM/);
    assert.match(md, /fine-tuned, ITC \+ ITM/);
  });

  it("with data.val: scores every epoch on it, keeps the best model and tests that one, once (ALBEF's selection)", async () => {
    const test = join(tmp.path, "synth", "test-000000.tar");
    const cfg = retrievalConfig("sel", { init: pretrained, epochs: 3 });
    const file = join(tmp.path, "sel.yaml");
    writeFileSync(file, stringify({ ...cfg, data: { ...cfg.data, val: test } }));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, r.out);
    const run = join(tmp.path, "runs", "sel");
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
      after: { itc: Metrics; itm: Metrics };
      selection: { metric: string; best_epoch: number; best_score: number; best_dir: string; by_epoch: { epoch: number; score: number }[] };
    };
    const sel = summary.selection;
    assert.deepEqual(
      sel.by_epoch.map((e) => e.epoch),
      [0, 1, 2],
    );
    assert.equal(sel.best_score, Math.max(...sel.by_epoch.map((e) => e.score)));
    assert.equal(sel.by_epoch.find((e) => e.score === sel.best_score)?.epoch, sel.best_epoch, "the first epoch with the best score");
    assert.match(r.out, new RegExp(`testing the best model: epoch ${sel.best_epoch}`));
    // the test figures are the best model's: a run starting from best/ scores the same before it trains
    const again = join(tmp.path, "again.yaml");
    writeFileSync(again, stringify(retrievalConfig("again", { init: sel.best_dir, evalBefore: true })));
    const a = await cli("train", "--config", again);
    assert.equal(a.code, 0, a.out);
    const before = (JSON.parse(readFileSync(join(tmp.path, "runs", "again", "summary.json"), "utf8")) as { before: { itc: Metrics; itm: Metrics } }).before;
    assert.deepEqual(before, summary.after);
    // the val score of the best epoch is the test score here (val = test)
    assert.ok(Math.abs(summary.after.itm.rMean - sel.best_score) < 1e-9);
  });

  it("initial weights that do not fit the model fail with the keys and shapes, before training", async () => {
    const wide = join(tmp.path, "wide.yaml");
    const cfg = retrievalConfig("wide", { init: pretrained });
    cfg.model = { ...cfg.model, fusion: { ...cfg.model.fusion, intermediate: 48 } };
    writeFileSync(wide, stringify(cfg));
    const r = await cli("train", "--config", wide);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /does not match the model .*shape mismatch \d+: fusion\.layer\.0\.\S+ model \[/s);
    const missing = join(tmp.path, "missing.yaml");
    writeFileSync(missing, stringify(retrievalConfig("missing", { init: join(tmp.path, "no-such-run") })));
    const m = await cli("train", "--config", missing);
    assert.notEqual(m.code, 0);
    assert.match(m.out, /initial weights .*no-such-run: no such file or folder/);
  });

  it("image ids are FNV-1a of the sample key (31 bits): stable across processes, so a resumed id queue stays valid", () => {
    assert.equal(imageIdOf("a"), 0xe40c292c & 0x7fffffff);
    assert.equal(imageIdOf("test000001"), imageIdOf("test000001"));
    assert.notEqual(imageIdOf("test000001"), imageIdOf("test000002"));
  });
});
