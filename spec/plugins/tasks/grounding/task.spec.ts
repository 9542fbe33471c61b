/**
 * The `grounding` task: referring expressions from sample JSON (RefCOCO-style
 * refs or the built-in scenes' objects), and the task end to end on a tiny
 * pre-trained model in both Grad-CAM modes.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { expandShardSpec, readShards, ShardWriter } from "../../../../core/index.ts";
import { groundingQueries } from "../../../../plugins/tasks/grounding/queries.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../../tiny-run.ts";

describe("plugins/tasks/grounding", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("reads RefCOCO-style refs and the built-in scenes' objects (unique descriptions only, boxes to [x, y, w, h])", () => {
    const refs = groundingQueries(
      {
        width: 640,
        height: 480,
        refs: [
          { expression: "man on the left", box: [10, 20, 100, 200] },
          { sentence: "red car", box: [300, 100, 50, 40] },
        ],
        candidates: [
          [0, 0, 5, 5],
          [10, 20, 100, 200],
        ],
      },
      "s1",
    );
    assert.equal(refs.length, 2);
    assert.deepEqual(refs[1], {
      expression: "red car",
      box: [300, 100, 50, 40],
      candidates: [
        [0, 0, 5, 5],
        [10, 20, 100, 200],
      ],
      width: 640,
      height: 480,
    });
    const objects = [
      { size: "small", colour: "red", shape: "circle", box: [0, 0, 10, 10] },
      { size: "large", colour: "blue", shape: "square", box: [20, 20, 40, 44] },
      { size: "large", colour: "blue", shape: "square", box: [50, 0, 60, 10] },
    ];
    const q = groundingQueries({ image_size: 64, objects }, "s2");
    assert.deepEqual(
      q.map((x) => x.expression),
      ["a small red circle"],
      "the two large blue squares are ambiguous",
    );
    assert.deepEqual(q[0].box, [0, 0, 10, 10]);
    assert.deepEqual(q[0].candidates, [
      [0, 0, 10, 10],
      [20, 20, 20, 24],
      [50, 0, 10, 10],
    ]);
    assert.deepEqual(groundingQueries({ image_size: 64, objects: objects.slice(0, 1) }, "s3"), [], "a single object is no grounding problem");
    assert.throws(() => groundingQueries({ objects }, "s4"), /s4: the \.json gives no image size/);
    assert.throws(() => groundingQueries({ image_size: 8, refs: [{ expression: "x" }] }, "s5"), /s5: refs\[0\] needs an "expression" and a "box"/);
    assert.throws(() => groundingQueries({ image_size: 8 }, "s6"), /neither "refs" nor "objects"/);
  });

  it("grounds every unique object of the test scenes with Grad-CAM in ITM and ITC mode and reports accuracy against chance", async () => {
    const pretrained = await pretrainTinyBase(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, "base");
    let expected = 0;
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      expected += groundingQueries(JSON.parse(new TextDecoder().decode(s.files.json)) as Record<string, unknown>, s.key).length;
    }
    assert.ok(expected > 0);
    for (const mode of ["itm", "itc"]) {
      const cfg = {
        ...tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: `g-${mode}` }),
        task: { name: "grounding", init: pretrained, mode, batchSize: 5 },
      };
      writeFileSync(join(tmp.path, `g-${mode}.yaml`), stringify(cfg));
      const r = await cli("train", "--config", join(tmp.path, `g-${mode}.yaml`));
      assert.equal(r.code, 0, r.out);
      const summary = JSON.parse(readFileSync(join(tmp.path, "runs", `g-${mode}`, "summary.json"), "utf8")) as {
        expressions: number;
        accuracy: number;
        chance: number;
        mode: string;
        layer: number;
        images: number;
      };
      assert.equal(summary.expressions, expected);
      assert.equal(summary.images, 16);
      assert.equal(summary.mode, mode);
      assert.equal(summary.layer, 0, "tiny model: one fusion layer, one ViT block");
      assert.ok(summary.accuracy >= 0 && summary.accuracy <= 100);
      assert.ok(summary.chance > 0 && summary.chance < 100);
      // the report's gallery: the first 12 expressions' maps with their boxes, 256 px, the annotated box in green
      const gallery = join(tmp.path, "runs", `g-${mode}`, "gallery");
      const index = JSON.parse(readFileSync(join(gallery, "index.json"), "utf8")) as { title: string; items: { file: string; caption: string }[] };
      assert.equal(index.items.length, Math.min(12, expected));
      assert.match(index.title, new RegExp(`Grad-CAM \\(${mode.toUpperCase()}\\)`));
      assert.match(index.items[0].caption, /^“.+” — IoU \d\.\d\d \((hit|miss)\)$/);
      const { data, info } = await sharp(join(gallery, index.items[0].file)).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [256, 256]);
      let green = 0;
      for (let p = 0; p < data.length; p += info.channels) if (data[p] < 40 && data[p + 1] > 180 && data[p + 2] < 40) green++;
      assert.ok(green > 40, `the annotated box is drawn (${green} green pixels)`);
    }
    // RefCOCO-style refs with splits: accuracy per split, the splits adding up to the whole
    const writer = new ShardWriter({ pattern: join(tmp.path, "refs-%06d.tar") });
    const splits = ["val", "testA", "testB"];
    let k = 0;
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      const meta = JSON.parse(new TextDecoder().decode(s.files.json)) as Record<string, unknown>;
      const refs = groundingQueries(meta, s.key).map((q) => ({ expression: q.expression, box: q.box, split: splits[k++ % 3] }));
      if (refs.length > 0)
        await writer.write({ key: s.key, files: { jpg: s.files.jpg, txt: refs[0].expression, json: JSON.stringify({ image_size: meta.image_size, refs }) } });
    }
    await writer.close();
    const base = tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: "g-splits" });
    const bySplit = { ...base, task: { name: "grounding", init: pretrained, batchSize: 5 }, data: { ...base.data, test: join(tmp.path, "refs-000000.tar") } };
    writeFileSync(join(tmp.path, "g-splits.yaml"), stringify(bySplit));
    const rs = await cli("train", "--config", join(tmp.path, "g-splits.yaml"));
    assert.equal(rs.code, 0, rs.out);
    const sp = JSON.parse(readFileSync(join(tmp.path, "runs", "g-splits", "summary.json"), "utf8")) as {
      expressions: number;
      accuracy: number;
      accuracy_by_split: Record<string, number>;
    };
    assert.equal(sp.expressions, expected);
    assert.deepEqual(Object.keys(sp.accuracy_by_split), ["testA", "testB", "val"]);
    const n = (i: number) => Math.floor(expected / 3) + (i < expected % 3 ? 1 : 0);
    const weighted = splits.reduce((a, name, i) => a + sp.accuracy_by_split[name] * n(i), 0) / expected;
    assert.ok(Math.abs(weighted - sp.accuracy) < 1e-9, `${weighted} vs ${sp.accuracy}`);
    assert.match(readFileSync(join(tmp.path, "runs", "g-splits", "summary.md"), "utf8"), /on testA \(\d+ expressions\)/);
    const bad = {
      ...tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: "g-bad" }),
      task: { name: "grounding", init: pretrained, layer: 3 },
    };
    writeFileSync(join(tmp.path, "g-bad.yaml"), stringify(bad));
    const r = await cli("train", "--config", join(tmp.path, "g-bad.yaml"));
    assert.notEqual(r.code, 0);
    assert.match(r.out, /task\.layer 3: the fusion has 1 layer \(0\.\.0\)/);
  });
});
