/**
 * The user objective of examples/siglip-objective: loaded through a config's
 * `plugins:`, its loss recomputed by hand from the features it reports, its
 * scale and bias trained, and a tiny pre-training run with it in place of ITC
 * (ITM drawing hard negatives from its similarities, zero-shot retrieval ranked by it).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { AlignmentStep, buildVisionLanguageModel, createLogger, prepareRun, Rng, tf } from "../../core/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { REPO_ROOT } from "../helpers.ts";
import { tinyModelConfig } from "../tiny-model.ts";
import { cli, tinyConfig, useTempRuns } from "../tiny-run.ts";

const SIGLIP = join(REPO_ROOT, "examples", "siglip-objective", "siglip.js");
const quiet = createLogger({ level: "error" });

describe("examples/siglip-objective", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("its loss is −(1/B) Σ log σ(z_ij (e^t cos_ij + b)) of the features it reports, and e^t and b train", async () => {
    const cfg = { ...tinyModelConfig({ name: "cross-attention" }), plugins: [SIGLIP], objectives: [{ name: "siglip", embedDim: 8, scale: 10, bias: -10 }] };
    const { scope } = await prepareRun(builtinRegistry(), cfg, { log: quiet });
    const model = buildVisionLanguageModel(scope, { batchSize: 3, imageIds: false });
    const names = [...model.trainable()].map(([n]) => n);
    for (const n of ["siglip_image_proj.weight", "siglip_text_proj.bias", "siglip_log_scale", "siglip_bias"]) assert.ok(names.includes(n), n);
    const batch = {
      images: tf.randomNormal([3, 3, 16, 16], 0, 1, "float32", 2),
      ids: tf.tensor2d(
        [
          [1, 7, 8, 9],
          [1, 10, 11, 0],
          [1, 12, 0, 0],
        ],
        [3, 4],
        "int32",
      ),
      mask: tf.tensor2d(
        [
          [1, 1, 1, 1],
          [1, 1, 1, 0],
          [1, 1, 0, 0],
        ],
        [3, 4],
        "int32",
      ),
    };
    const seen: Record<string, number[][]> = {};
    const step = new AlignmentStep(model, batch, {
      alpha: 0,
      rng: new Rng(1),
      special: { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 },
      vocabSize: 40,
      record: (name, v) => {
        if (v instanceof tf.Tensor) seen[name] = v.rank === 2 ? (v.arraySync() as number[][]) : [[v.dataSync()[0]]];
      },
    });
    step.prepare();
    const vars = [...model.trainable()];
    const { value, grads } = tf.variableGrads(
      () => step.loss(),
      vars.map(([, v]) => v),
    );
    step.finish();
    const image = seen.siglip_image_feat;
    const text = seen.siglip_text_feat;
    let want = 0;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const cos = image[i].reduce((a, x, k) => a + x * text[j][k], 0);
        const logit = 10 * cos - 10;
        assert.ok(Math.abs(seen.siglip_logits[i][j] - logit) < 1e-5, `logit (${i}, ${j})`);
        const zl = (i === j ? 1 : -1) * logit;
        want -= -Math.log1p(Math.exp(-zl));
      }
    }
    want /= 3;
    assert.ok(Math.abs(value.dataSync()[0] - want) < 1e-5, `loss ${value.dataSync()[0]} vs ${want}`);
    for (const n of ["siglip_log_scale", "siglip_bias"]) {
      const v = vars.find(([name]) => name === n)![1];
      assert.ok(Math.abs(grads[v.name].dataSync()[0]) > 1e-6, `${n} gets a gradient`);
    }
    tf.dispose([value, ...Object.values(grads), batch.images, batch.ids, batch.mask]);
    model.dispose();
  });

  it("pre-trains from a config with plugins: [siglip.js] in place of ITC; zero-shot retrieval ranks by it", async () => {
    const base = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "siglip" });
    const cfg = { ...base, plugins: [SIGLIP], objectives: [{ name: "siglip", embedDim: 8, textPooling: "mean" }, { name: "itm" }, { name: "mlm" }] };
    const file = join(tmp.path, "siglip.yaml");
    writeFileSync(file, stringify(cfg));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, r.out);
    const run = join(tmp.path, "runs", "siglip");
    const rows = readFileSync(join(run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(rows.length, 6);
    for (const row of rows) for (const k of ["siglip", "itm", "mlm"]) assert.ok(Number.isFinite(row[k]), `${k} at step ${row.step}`);
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as { retrieval: { n: number }; final_loss: Record<string, number> };
    assert.equal(summary.retrieval.n, 16);
    assert.ok("siglip" in summary.final_loss, "the summary reports the user objective's loss");
    assert.ok(existsSync(join(run, "loss.png")));
  });

  it("the example's own config validates (module loaded, objectives resolved)", async () => {
    const r = await cli("config", "--config", join(REPO_ROOT, "examples", "siglip-objective", "config.yaml"));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /name: siglip/);
  });
});
