/**
 * The `binding` task: every test caption against its swapped-attribute
 * negatives by ITC similarity and ITM logit, on a tiny pre-trained model.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { expandShardSpec, readShards } from "../../../../core/index.ts";
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
