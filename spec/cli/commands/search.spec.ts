/** `polyalign search` on a tiny pre-trained run: ranks a folder's images by ITC, caches their features beside them and updates the cache as files change. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expandShardSpec, readShards } from "../../../core/index.ts";
import { embeddingRow, loadModel, type SearchHit } from "../../../plugins/inference/index.ts";
import { cli, pretrainTinyBase, useTempRuns } from "../../tiny-run.ts";

interface Result {
  images: number;
  embedded: number;
  skipped: string[];
  index: string;
  hits: SearchHit[];
}

describe("cli: polyalign search", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  let run: string;
  let dir: string;
  const jpgs: Uint8Array[] = [];

  before(async () => {
    run = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "search");
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      jpgs.push(s.files.jpg);
      if (jpgs.length >= 8) break;
    }
    dir = join(tmp.path, "photos");
    mkdirSync(join(dir, "more"), { recursive: true });
    jpgs.slice(0, 6).forEach((b, i) => writeFileSync(join(dir, `p${i}.jpg`), b));
    writeFileSync(join(dir, "more", "p6.jpg"), jpgs[6]);
    writeFileSync(join(dir, "broken.jpg"), "not an image");
    writeFileSync(join(dir, "notes.txt"), "not listed");
  });

  const search = async (text: string, top = 3) => {
    const r = await cli("search", "--run", run, "--images", dir, "--text", text, "--top", String(top), "--json");
    assert.equal(r.code, 0, r.out);
    return JSON.parse(
      r.out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .pop() as string,
    ) as Result;
  };

  it("ranks the images by the ITC cosine with the text, leaving an unreadable file out by name", async () => {
    const r = await search("a small green circle", 4);
    assert.equal(r.images, 7);
    assert.equal(r.embedded, 7);
    assert.deepEqual(r.skipped, ["broken.jpg"]);
    assert.ok(existsSync(r.index) && r.index.startsWith(dir));
    assert.equal(r.hits.length, 4);
    const model = await loadModel(run);
    const files = ["more/p6.jpg", "p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg", "p4.jpg", "p5.jpg"];
    const images = await model.embedImages(files.map((f) => join(dir, f)));
    const text = model.embedTexts(["a small green circle"]);
    model.dispose();
    const want = files
      .map((file, i) => ({ file, similarity: embeddingRow(images, i).reduce((a, v, d) => a + v * text.data[d], 0) }))
      .sort((a, b) => b.similarity - a.similarity);
    assert.deepEqual(
      r.hits.map((h) => h.file),
      want.slice(0, 4).map((w) => w.file),
    );
    r.hits.forEach((h, i) => assert.ok(Math.abs(h.similarity - want[i].similarity) < 1e-5));
  });

  it("reuses the cache, embeds only new and changed files, and drops removed ones", async () => {
    const again = await search("a small green circle", 4);
    assert.equal(again.embedded, 0);
    writeFileSync(join(dir, "p0.jpg"), jpgs[7]); // changed content
    utimesSync(join(dir, "p0.jpg"), new Date(), new Date(Date.now() + 5000));
    writeFileSync(join(dir, "p7.jpg"), jpgs[0]); // new
    const updated = await search("a small green circle", 8);
    assert.equal(updated.images, 8);
    assert.equal(updated.embedded, 2);
    rmSync(join(dir, "p7.jpg"));
    const removed = await search("a small green circle", 8);
    assert.equal(removed.images, 7);
    assert.equal(removed.embedded, 0);
    assert.ok(!removed.hits.some((h) => h.file === "p7.jpg"));
  });

  it("names a folder that is not one and a bad --top", async () => {
    const nope = await cli("search", "--run", run, "--images", join(tmp.path, "nope"), "--text", "x");
    assert.equal(nope.code, 1);
    assert.match(nope.out, /nope: not a folder of images/);
    const top = await cli("search", "--run", run, "--images", dir, "--text", "x", "--top", "0");
    assert.equal(top.code, 2);
    assert.match(top.out, /--top must be an integer ≥ 1, got "0"/);
  });
});
