/** `polyalign score` on a tiny pre-trained run: the table and JSON equal the API's numbers; errors name what is wrong. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expandShardSpec, readShards } from "../../../core/index.ts";
import { loadModel, type TextScore } from "../../../plugins/inference/index.ts";
import { cli, pretrainTinyBase, useTempRuns } from "../../tiny-run.ts";

describe("cli: polyalign score", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  let run: string;
  let image: string;

  before(async () => {
    run = await pretrainTinyBase(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, "score");
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      image = join(tmp.path, "test.jpg");
      writeFileSync(image, s.files.jpg);
      break;
    }
  });

  it("ranks the texts by ITM probability, with the API's numbers (table and --json)", async () => {
    const texts = ["a red cube", "a small blue sphere", "two green things"];
    const r = await cli("score", "--run", run, "--image", image, ...texts.flatMap((t) => ["--text", t]), "--json");
    assert.equal(r.code, 0, r.out);
    const json = JSON.parse(r.out) as { scores: TextScore[]; weights: string };
    assert.match(json.weights, /step-0000006[/\\]model\.safetensors$/);
    const model = await loadModel(run);
    const want = await model.score(image, texts);
    model.dispose();
    assert.deepEqual(
      json.scores.map((s) => s.text),
      [...want].sort((a, b) => b.itmProbability - a.itmProbability).map((s) => s.text),
    );
    for (const s of json.scores) {
      const w = want.find((x) => x.text === s.text)!;
      assert.ok(Math.abs(s.itmProbability - w.itmProbability) < 1e-6 && Math.abs(s.similarity - w.similarity) < 1e-6, s.text);
    }
    const table = await cli("score", "--run", run, "--image", image, ...texts.flatMap((t) => ["--text", t]));
    assert.equal(table.code, 0, table.out);
    const lines = table.out.split("\n");
    assert.match(lines[1], /ITM p\(match\)\s+ITC cosine\s+ITC logit\s+text/);
    assert.equal(lines.length, 2 + texts.length);
    assert.ok(lines[2].endsWith(json.scores[0].text));
  });

  it("names a missing text, an unknown run and an image it cannot read", async () => {
    const none = await cli("score", "--run", run, "--image", image);
    assert.equal(none.code, 2);
    assert.match(none.out, /give at least one --text/);
    const unknown = await cli("score", "--run", join(tmp.path, "runs", "nope"), "--image", image, "--text", "x");
    assert.equal(unknown.code, 1);
    assert.match(unknown.out, /runs[/\\]nope: no such run folder, checkpoint folder or weights file/);
    const notImage = join(tmp.path, "notes.txt");
    writeFileSync(notImage, "not an image");
    const bad = await cli("score", "--run", run, "--image", notImage, "--text", "x");
    assert.equal(bad.code, 1);
    assert.match(bad.out, /notes\.txt: cannot read the image/);
  });
});
