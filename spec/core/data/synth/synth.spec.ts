import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildSynthDataset, createLogger, DataConfig, decodeImage, ensureSynthData, preCaption, readShards, type WdsSample } from "../../../../core/index.ts";
import { tempDir } from "../../../helpers.ts";

interface Obj {
  shape: string;
  colour: string;
  size: string;
  box: [number, number, number, number];
}

async function all(shards: string[]): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readShards(shards)) out.push(s);
  return out;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("core/data/synth: the built-in multi-entity data set", function () {
  this.timeout(60000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  it("is deterministic: the same seed gives the same bytes, another seed other bytes", async () => {
    const opts = { train: 12, val: 3, test: 3, pairs: 4, imageSize: 32, samplesPerShard: 5 };
    const a = await buildSynthDataset({ ...opts, out: join(tmp.path, "a"), seed: 1 });
    const b = await buildSynthDataset({ ...opts, out: join(tmp.path, "b"), seed: 1 });
    const c = await buildSynthDataset({ ...opts, out: join(tmp.path, "c"), seed: 2 });
    const digest = (files: string[]) => files.map((f) => createHash("md5").update(readFileSync(f)).digest("hex"));
    assert.deepEqual(a.splits.train.shards.length, 3);
    assert.deepEqual(digest(a.splits.train.shards), digest(b.splits.train.shards));
    assert.notDeepEqual(digest(a.splits.train.shards), digest(c.splits.train.shards));
    assert.equal(readFileSync(a.vocab, "utf8"), readFileSync(b.vocab, "utf8"));
  });

  it("every sample is consistent: boxes in the image, captions name every object, negatives are false, answers true, vocabulary complete", async () => {
    const s = await buildSynthDataset({ out: join(tmp.path, "d"), seed: 3, train: 60, val: 0, test: 0, pairs: 30, imageSize: 48 });
    const vocab = new Set(readFileSync(s.vocab, "utf8").trim().split("\n"));
    assert.deepEqual([...vocab].slice(0, 5), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
    const covered = (t: string) =>
      preCaption(t, 1000)
        .split(" ")
        .every((w) => vocab.has(w));
    const samples = await all(s.splits.train.shards);
    assert.equal(samples.length, 60);
    let negatives = 0;
    const counts = new Set<number>();
    for (const smp of samples) {
      assert.deepEqual(Object.keys(smp.files).sort(), ["jpg", "json", "txt"]);
      const meta = JSON.parse(text(smp.files.json)) as {
        objects: Obj[];
        captions: string[];
        negatives: string[];
        caption_negatives: string[][];
        replacements: Record<string, string[]>;
        hard_negatives: string[];
        vqa: { question: string; answer: string }[];
      };
      const img = await decodeImage(smp.files.jpg, smp.key);
      assert.deepEqual([img.width, img.height], [48, 48]);
      counts.add(meta.objects.length);
      assert.ok(meta.objects.length >= 1 && meta.objects.length <= 4);
      for (const o of meta.objects) {
        assert.ok(o.box[0] >= 0 && o.box[1] >= 0 && o.box[2] <= 48 && o.box[3] <= 48 && o.box[0] < o.box[2], `${smp.key} box ${o.box}`);
        assert.ok(meta.captions[0].includes(`${o.colour} ${o.shape}`), `${smp.key}: "${meta.captions[0]}" misses the ${o.colour} ${o.shape}`);
      }
      assert.equal(text(smp.files.txt), meta.captions[0]);
      const present = new Set(meta.objects.map((o) => `${o.colour} ${o.shape}`));
      for (const neg of meta.negatives) {
        negatives++;
        assert.ok(!meta.captions.includes(neg));
        const named = [...neg.matchAll(/(red|green|blue|yellow|purple|orange) (circle|square|triangle|diamond)/g)].map((m) => m[0]);
        assert.ok(
          named.some((n) => !present.has(n)),
          `${smp.key}: negative "${neg}" names only present objects`,
        );
      }
      // each caption's own negatives: its words with one or two object phrases changed, each false of the image
      assert.equal(meta.caption_negatives.length, meta.captions.length);
      assert.deepEqual(meta.caption_negatives[0], meta.negatives);
      meta.caption_negatives.forEach((negs, k) => {
        const phrases = (t: string) => t.replace(/(red|green|blue|yellow|purple|orange) (circle|square|triangle|diamond)/g, "X");
        for (const neg of negs) {
          negatives++;
          assert.equal(phrases(neg), phrases(meta.captions[k]), `${smp.key}: "${neg}" is not caption ${k} with its objects changed`);
          const named = [...neg.matchAll(/(red|green|blue|yellow|purple|orange) (circle|square|triangle|diamond)/g)].map((m) => m[0]);
          assert.ok(
            named.some((n) => !present.has(n)),
            `${smp.key}: caption ${k}'s negative "${neg}" names only present objects`,
          );
          assert.ok(covered(neg));
        }
      });
      // replacements: the first caption with exactly one word changed — a colour, a shape or a size, as filed — false of the scene
      const described = new Set(meta.objects.map((o) => `${o.size} ${o.colour} ${o.shape}`));
      const words = meta.captions[0].split(" ");
      const kindOf: Record<string, string> = { red: "colour", green: "colour", blue: "colour", yellow: "colour", purple: "colour", orange: "colour" };
      for (const w of ["circle", "square", "triangle", "diamond"]) kindOf[w] = "shape";
      for (const w of ["small", "large"]) kindOf[w] = "size";
      for (const [kind, list] of Object.entries(meta.replacements)) {
        for (const r of list) {
          const rw = r.split(" ");
          const changed = rw.map((_, i) => i).filter((i) => rw[i] !== words[i]);
          assert.equal(rw.length, words.length, r);
          assert.equal(changed.length, 1, `${smp.key}: "${r}" changes ${changed.length} words`);
          assert.equal(kindOf[rw[changed[0]]], kind, `${smp.key}: "${r}" filed under ${kind}`);
          const phrases = [...r.matchAll(/(small|large) (red|green|blue|yellow|purple|orange) (circle|square|triangle|diamond)/g)].map((m) => m[0]);
          assert.ok(
            phrases.some((p) => !described.has(p)),
            `${smp.key}: replacement "${r}" is true of the scene`,
          );
        }
      }
      // hard negatives: the swaps, then replacements only
      assert.deepEqual(meta.hard_negatives.slice(0, meta.negatives.length), meta.negatives);
      const allReplacements = new Set(Object.values(meta.replacements).flat());
      for (const h of meta.hard_negatives.slice(meta.negatives.length)) {
        assert.ok(allReplacements.has(h), h);
        // the new word is some object's in the scene: only its binding is wrong
        const hw = h.split(" ");
        const i = hw.findIndex((w, k) => w !== words[k]);
        assert.ok(
          meta.objects.some((o) => [o.size, o.colour, o.shape].includes(hw[i])),
          `${smp.key}: hard negative "${h}" brings "${hw[i]}", which no object has`,
        );
      }
      const count = meta.vqa.find((q) => q.question === "how many shapes are there");
      assert.equal(count?.answer, ["zero", "one", "two", "three", "four"][meta.objects.length]);
      for (const t of [...meta.captions, ...meta.negatives, ...meta.vqa.flatMap((q) => [q.question, q.answer])])
        assert.ok(covered(t), `vocabulary misses a word of "${t}"`);
    }
    assert.deepEqual([...counts].sort(), [1, 2, 3, 4]);
    assert.ok(negatives > 30, `only ${negatives} hard negatives`);

    const pairs = await all(s.splits["nlvr-train"].shards);
    assert.equal(pairs.length, 30);
    const labels = new Set<boolean>();
    for (const p of pairs) {
      assert.deepEqual(Object.keys(p.files).sort(), ["img0.jpg", "img1.jpg", "json"]);
      const m = JSON.parse(text(p.files.json)) as { statement: string; label: boolean; left: Obj[]; right: Obj[] };
      labels.add(m.label);
      assert.ok(covered(m.statement));
      const both = /^both images contain a (\w+)$/.exec(m.statement);
      if (both) assert.equal(m.label, m.left.some((o) => o.shape === both[1]) && m.right.some((o) => o.shape === both[1]));
      if (m.statement.startsWith("there are more")) assert.equal(m.label, m.left.length > m.right.length);
    }
    assert.deepEqual([...labels].sort(), [false, true]);
  });

  it("test samples with binding negatives carry the counterfactual scene (Winoground's second image): the first negative names exactly its objects, the caption does not", async () => {
    const s = await buildSynthDataset({ out: join(tmp.path, "e"), seed: 4, train: 0, val: 0, test: 40, pairs: 0, imageSize: 48 });
    const names = (t: string) => [...t.matchAll(/(red|green|blue|yellow|purple|orange) (circle|square|triangle|diamond)/g)].map((m) => m[0]);
    let pairs = 0;
    for (const smp of await all(s.splits.test.shards)) {
      const meta = JSON.parse(text(smp.files.json)) as {
        objects: Obj[];
        captions: string[];
        negatives: string[];
        counterfactual?: { caption: string; objects: Obj[] };
      };
      if (meta.negatives.length === 0) {
        assert.equal(meta.counterfactual, undefined);
        assert.deepEqual(Object.keys(smp.files).sort(), ["jpg", "json", "txt"]);
        continue;
      }
      pairs++;
      const cf = meta.counterfactual!;
      assert.equal(cf.caption, meta.negatives[0]);
      assert.deepEqual(Object.keys(smp.files).sort(), ["jpg", "json", "swap.jpg", "txt"]);
      assert.deepEqual(
        cf.objects.map((o) => o.box),
        meta.objects.map((o) => o.box),
        "the same layout: positions, hence relations, hold",
      );
      const changed = cf.objects.filter((o, i) => o.colour !== meta.objects[i].colour || o.shape !== meta.objects[i].shape);
      assert.equal(changed.length, 2, `${smp.key}: two entities swap an attribute`);
      const present = new Set(cf.objects.map((o) => `${o.colour} ${o.shape}`));
      assert.ok(
        names(cf.caption).every((n) => present.has(n)),
        `${smp.key}: "${cf.caption}" is true of its scene`,
      );
      assert.ok(
        names(meta.captions[0]).some((n) => !present.has(n)),
        `${smp.key}: "${meta.captions[0]}" is false of the counterfactual`,
      );
      const [a, b] = [await decodeImage(smp.files.jpg, smp.key), await decodeImage(smp.files["swap.jpg"], smp.key)];
      assert.deepEqual([b.width, b.height], [48, 48]);
      assert.notDeepEqual(a.data, b.data);
    }
    assert.ok(pairs > 10, `only ${pairs} Winoground pairs in 40 test images`);
  });

  it("objects: [min, max] sets how many objects a scene holds; meta.json records it and a set built with another range is rebuilt", async () => {
    const out = join(tmp.path, "f");
    const synth = { out, seed: 5, train: 20, val: 0, test: 10, pairs: 0, imageSize: 32, objects: [2, 3] };
    const data = DataConfig.parse({ train: join(out, "train-000000.tar"), synth });
    await ensureSynthData(data, createLogger({ level: "error" }));
    const counts = async () =>
      (await all([join(out, "train-000000.tar")])).map((smp) => (JSON.parse(text(smp.files.json)) as { objects: Obj[] }).objects.length);
    const first = await counts();
    assert.ok(first.every((n) => n === 2 || n === 3) && first.includes(2) && first.includes(3), `counts ${first}`);
    assert.deepEqual(JSON.parse(readFileSync(join(out, "meta.json"), "utf8")).objects, [2, 3]);
    await ensureSynthData(DataConfig.parse({ ...data, synth: { ...synth, objects: [2, 2] } }), createLogger({ level: "error" }));
    assert.ok(
      (await counts()).every((n) => n === 2),
      "rebuilt with exactly two objects per scene",
    );
    assert.throws(() => DataConfig.parse({ ...data, synth: { ...synth, objects: [3, 2] } }), /min ≤ max/);
    assert.throws(() => DataConfig.parse({ ...data, synth: { ...synth, objects: [1, 9] } }));
  });
});
