/**
 * The `binding` task: every test caption against its swapped-attribute
 * negatives by ITC similarity and ITM logit, on a tiny pre-trained model.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  buildVisionLanguageModel,
  createLogger,
  DroppedSamples,
  evalBatches,
  expandShardSpec,
  loadVisionLanguageWeights,
  openPool,
  preCaption,
  prepareRun,
  type RunContext,
  readShards,
  readyTokenizer,
  tf,
} from "../../../../core/index.ts";
import { builtinRegistry } from "../../../../plugins/index.ts";
import { evenlySpaced } from "../../../../plugins/tasks/shared/binding.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

describe("plugins/tasks/binding", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("scores every caption against each of its binding negatives, per pair and per image, with the chance levels", async () => {
    const fusion = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 };
    const pretrained = await pretrainTinyBase(tmp.path, fusion, "base");
    let pairs = 0;
    let images = 0;
    let chance = 0;
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      const n = (JSON.parse(new TextDecoder().decode(s.files.json)) as { negatives: string[] }).negatives.length;
      pairs += n;
      if (n > 0) {
        images++;
        chance += 1 / (n + 1);
      }
    }
    const cfg = { ...tinyConfig(tmp.path, fusion, { name: "bind" }), task: { name: "binding", init: pretrained, batchSize: 5 } };
    writeFileSync(join(tmp.path, "bind.yaml"), stringify(cfg));
    const r = await cli("train", "--config", join(tmp.path, "bind.yaml"));
    assert.equal(r.code, 0, r.out);
    const summary = JSON.parse(readFileSync(join(tmp.path, "runs", "bind", "summary.json"), "utf8")) as Record<string, number>;
    assert.equal(summary.pairs, pairs);
    assert.equal(summary.images, images);
    assert.ok(Math.abs(summary.chanceImages - (100 * chance) / images) < 1e-9);
    for (const k of ["itcPairs", "itmPairs", "itcImages", "itmImages"]) assert.ok(summary[k] >= 0 && summary[k] <= 100, k);
  });

  it("scores the replacement negatives by attribute: as many pairs as the data holds (at most replacementsPerKind each), each won as the model's own scores say", async () => {
    const fusion = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 };
    const pretrained = join(tmp.path, "runs", "base");
    const expected: Record<string, number> = {};
    let first: { key: string; caption: string; replacements: Record<string, string[]> } | null = null;
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      const meta = JSON.parse(new TextDecoder().decode(s.files.json)) as { captions: string[]; replacements: Record<string, string[]> };
      for (const [k, list] of Object.entries(meta.replacements)) expected[k] = (expected[k] ?? 0) + Math.min(2, list.length);
      first ??= { key: s.key, caption: meta.captions[0], replacements: meta.replacements };
    }
    assert.deepEqual(Object.keys(expected).sort(), ["colour", "shape", "size"]);
    const run = async (name: string, task: Record<string, unknown>) => {
      const cfg = { ...tinyConfig(tmp.path, fusion, { name }), task: { name: "binding", init: pretrained, replacementsPerKind: 2, ...task } };
      writeFileSync(join(tmp.path, `${name}.yaml`), stringify(cfg));
      const r = await cli("train", "--config", join(tmp.path, `${name}.yaml`));
      assert.equal(r.code, 0, r.out);
      return JSON.parse(readFileSync(join(tmp.path, "runs", name, "summary.json"), "utf8")) as {
        replaced: Record<string, { pairs: number; itc: number; itm: number }>;
      };
    };
    const all = await run("bind-replaced", {});
    for (const [k, n] of Object.entries(expected)) assert.equal(all.replaced[k].pairs, n, k);
    assert.match(readFileSync(join(tmp.path, "runs", "bind-replaced", "summary.md"), "utf8"), /\| shape \| \d+ \| [\d.]+ % \| [\d.]+ % \|/);

    // the first test image alone, by hand: its caption against the evenly spaced replacements, through the model's heads
    const one = await run("bind-one", { maxImages: 1 });
    const cfg = tinyConfig(tmp.path, fusion, { name: "check" });
    const { scope } = await prepareRun(builtinRegistry(), cfg, { log: createLogger({ level: "error" }) });
    const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
    loadVisionLanguageWeights(model, pretrained, 1);
    model.eval();
    const head = model.requireEmbedding("the check");
    const tokenizer = await readyTokenizer({ scope } as RunContext);
    const data = scope.config.data!;
    const pool = await openPool(scope, data, "test", 0);
    try {
      for await (const b of evalBatches(data, data.test!, pool, tokenizer.special.pad, 1, new DroppedSamples())) {
        assert.equal(b.keys[0], first!.key);
        for (const [kind, list] of Object.entries(first!.replacements)) {
          const texts = [first!.caption, ...evenlySpaced(list, 2)].map((t) => preCaption(t, 30));
          const enc = tokenizer.encode(texts);
          const [itc, itm] = tf.tidy(() => {
            const ids = tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32");
            const mask = tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32");
            const image = model.encodeImage(tf.tensor4d(b.images, [1, 3, b.size, b.size]));
            const text = model.encodeText(ids, mask);
            const sim = tf.sum(tf.mul(head.textFeatures(text, mask), head.imageFeatures(image)), -1);
            const logits = model.matchLogits(text, mask, tf.tile(image, [enc.batch, 1, 1]));
            return [Array.from(sim.dataSync()), Array.from(tf.slice(logits, [0, 1], [-1, 1]).dataSync())];
          });
          const won = (s: number[]) => (100 * s.slice(1).filter((x) => s[0] > x).length) / (s.length - 1);
          if (texts.length === 1) continue;
          assert.equal(one.replaced[kind].pairs, texts.length - 1, kind);
          assert.ok(Math.abs(one.replaced[kind].itc - won(itc)) < 1e-9, `${kind} by ITC: ${one.replaced[kind].itc} vs ${won(itc)}`);
          assert.ok(Math.abs(one.replaced[kind].itm - won(itm)) < 1e-9, `${kind} by ITM: ${one.replaced[kind].itm} vs ${won(itm)}`);
        }
        break;
      }
    } finally {
      await pool.close();
      model.dispose();
    }
  });

  it("a test set without the negatives field says which field is missing", async () => {
    const cfg = {
      ...tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: "bind2" }),
      task: { name: "binding", init: join(tmp.path, "runs", "base"), negativesField: "distractors" },
    };
    writeFileSync(join(tmp.path, "bind2.yaml"), stringify(cfg));
    const r = await cli("train", "--config", join(tmp.path, "bind2.yaml"));
    assert.notEqual(r.code, 0);
    assert.match(r.out, /\.json has no "distractors" list/);
  });
});
