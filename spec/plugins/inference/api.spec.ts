/**
 * The inference API on a tiny pre-trained run: shapes and values against the
 * tasks' own code for the same inputs (the evaluation pipeline's pixels, the
 * retrieval task's ITM re-ranking, the grounding task's Grad-CAM), images as
 * paths, bytes and pixels, and the errors for a bad image, an unknown run and
 * a weights file without its config.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { assertNoTensorLeak, createLogger, DroppedSamples, evalBatches, expandShardSpec, openPool, prepareRun, readShards, tf } from "../../../core/index.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { embeddingRow, loadModel, modelPixels, type PolyalignModel } from "../../../plugins/inference/index.ts";
import { itmGradCam } from "../../../plugins/tasks/grounding/grad-cam.ts";
import { itmRerank } from "../../../plugins/tasks/retrieval/itm-rerank.ts";
import { pretrainTinyBase, useTempRuns } from "../../tiny-run.ts";

interface TestSample {
  key: string;
  jpg: Uint8Array;
  caption: string;
}

async function testSamples(dir: string, n: number): Promise<TestSample[]> {
  const out: TestSample[] = [];
  for await (const s of readShards(expandShardSpec(join(dir, "synth", "test-000000.tar")))) {
    const meta = JSON.parse(new TextDecoder().decode(s.files.json)) as { caption?: string; captions?: string[] };
    out.push({ key: s.key, jpg: s.files.jpg, caption: meta.caption ?? meta.captions?.[0] ?? "" });
    if (out.length >= n) break;
  }
  return out;
}

const close = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe("plugins/inference: the trained model as a library", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  let run: string;
  let model: PolyalignModel;
  let samples: TestSample[];

  before(async () => {
    run = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "api");
    model = await loadModel(run);
    samples = await testSamples(tmp.path, 3);
  });
  after(() => model?.dispose());

  it("embeds images (paths, bytes, pixels) and texts as unit vectors of the ITC dimension", async () => {
    const file = join(tmp.path, "first.jpg");
    writeFileSync(file, samples[0].jpg);
    const raw = await sharp(samples[0].jpg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixels = { data: new Uint8Array(raw.data), width: raw.info.width, height: raw.info.height, channels: 3 as const };
    const images = await model.embedImages([file, samples[0].jpg, pixels, samples[1].jpg]);
    assert.equal(images.count, 4);
    assert.equal(images.dim, 8);
    for (let i = 0; i < 4; i++) assert.ok(close(Math.hypot(...embeddingRow(images, i)), 1), `image ${i} unit length`);
    // one image in two rows of a batch: equal up to the matrix products' rounding by row
    const same = (i: number, what: string) => embeddingRow(images, i).forEach((v, d) => assert.ok(close(v, embeddingRow(images, 0)[d], 1e-6), what));
    same(1, "bytes = path");
    same(2, "decoded pixels = path");
    assert.notDeepEqual(embeddingRow(images, 3), embeddingRow(images, 0));
    const texts = model.embedTexts(samples.map((s) => s.caption));
    assert.equal(texts.count, 3);
    for (let i = 0; i < 3; i++) assert.ok(close(Math.hypot(...embeddingRow(texts, i)), 1));
  });

  it("sees the pixels the evaluation pipeline makes, and gives its features", async () => {
    const { scope, config } = await prepareRun(builtinRegistry(), join(run, "config.yaml"), { log: createLogger({ level: "error" }) });
    const data = config.data!;
    const pool = await openPool(scope, data, "test", 0);
    const dropped = new DroppedSamples(createLogger({ level: "error" }), "spec");
    try {
      for await (const b of evalBatches(data, data.test as string, pool, 0, 2, dropped)) {
        const plane = 3 * b.size * b.size;
        const want = tf.tidy(() => {
          const head = model.model.requireEmbedding("spec");
          return head.imageFeatures(model.model.encodeImage(tf.tensor4d(b.images.subarray(0, 2 * plane), [2, 3, b.size, b.size]))).dataSync();
        });
        const got = await model.embedImages(samples.slice(0, 2).map((s) => s.jpg));
        assert.deepEqual(b.keys.slice(0, 2), [samples[0].key, samples[1].key]);
        assert.deepEqual(await pixelsOf(model, samples[1].jpg), b.images.slice(plane, 2 * plane), "the same pixels, bit for bit");
        got.data.forEach((v, i) => assert.ok(close(v, want[i]), `feature ${i}: ${v} vs ${want[i]}`));
        break;
      }
    } finally {
      await pool.close();
    }
  });

  it("scores an image against texts: ITC as the features' cosine, ITM as the retrieval task's re-ranking scores it", async () => {
    const texts = samples.map((s) => s.caption);
    const scores = await model.score(samples[0].jpg, texts);
    assert.deepEqual(
      scores.map((s) => s.text),
      texts,
    );
    const image = await model.embedImages([samples[0].jpg]);
    const feats = model.embedTexts(texts);
    const m = model.model;
    const pixels = tf.tensor4d(await pixelsOf(model, samples[0].jpg), [1, 3, model.transform.size, model.transform.size]);
    const enc = model.tokenizer.encode(
      texts.map((t) => model.caption(t)),
      { padTo: "longest" },
    );
    const gallery = tf.tidy(() => ({
      imageEmbeds: tf.keep(m.encodeImage(pixels)),
      textEmbeds: tf.keep(m.encodeText(tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32"), tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32"))),
      textMask: tf.keep(tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32")),
    }));
    const sim = new Float32Array(texts.length);
    texts.forEach((_, t) => {
      sim[t] = embeddingRow(image, 0).reduce((a, v, d) => a + v * embeddingRow(feats, t)[d], 0);
    });
    const reranked = itmRerank(m, gallery, sim, { k: texts.length, score: "itm" });
    tf.dispose([pixels, gallery.imageEmbeds, gallery.textEmbeds, gallery.textMask]);
    scores.forEach((s, t) => {
      assert.ok(close(s.similarity, sim[t]), `similarity ${t}: ${s.similarity} vs ${sim[t]}`);
      assert.ok(close(s.itmLogits[1], reranked.i2t[t]), `ITM logit ${t}: ${s.itmLogits[1]} vs ${reranked.i2t[t]}`);
      assert.ok(close(s.itmProbability, 1 / (1 + Math.exp(s.itmLogits[0] - s.itmLogits[1]))));
      assert.ok(s.itmProbability > 0 && s.itmProbability < 1);
      // cos / τ, one τ for all
      assert.ok(close(s.itcLogit / s.similarity, scores[0].itcLogit / scores[0].similarity, 1e-4), `logit ${s.itcLogit} = cos/τ`);
    });
    assert.ok(scores[0].itcLogit / scores[0].similarity > 1, "1/τ > 1");
  });

  it("maps where a text looks: the grounding task's whole-text map, and one map per word piece (rows of what it averages)", async () => {
    const text = samples[0].caption;
    const cam = await model.gradcam(samples[0].jpg, text);
    assert.equal(cam.mode, "itm");
    assert.equal(cam.layer, 0, "the last layer of a one-layer fusion");
    const cells = cam.grid * cam.grid;
    assert.equal(cam.whole.length, cells);
    const enc = model.tokenizer.encode([model.caption(text)]);
    const [ids, mask] = [tf.tensor2d(enc.ids, [1, enc.length], "int32"), tf.tensor2d(enc.mask, [1, enc.length], "int32")];
    const pixels = tf.tensor4d(await pixelsOf(model, samples[0].jpg), [1, 3, model.transform.size, model.transform.size]);
    const want = itmGradCam(model.model, pixels, ids, mask, 0);
    tf.dispose([ids, mask, pixels]);
    assert.deepEqual(cam.whole, want.maps);
    const { cls, sep, unk } = model.tokenizer.special;
    const pieces = [...enc.ids].filter((id, p) => enc.mask[p] === 1 && id !== cls && id !== sep);
    assert.deepEqual(
      cam.words.map((w) => w.token),
      pieces.map((id) => (id === unk ? "[UNK]" : model.tokenizer.decode([id]))),
      "every word piece but [CLS] and [SEP], in order",
    );
    // the whole map is the mean over every row, [CLS], [SEP] and padding included
    const sum = new Float64Array(cells);
    for (const w of cam.words) w.map.forEach((v, i) => (sum[i] += v));
    const rest = cam.whole.map((v, i) => v * enc.length - sum[i]);
    for (const v of rest) assert.ok(v >= -1e-6, "[CLS] and [SEP] rows add what the words do not");
    const itc = await model.gradcam(samples[0].jpg, text, { mode: "itc" });
    assert.equal(itc.words.length, 0);
    assert.equal(itc.whole.length, cells);
    await assert.rejects(model.gradcam(samples[0].jpg, text, { layer: 3 }), /layer 3 does not exist: the fusion has 1 layer \(0\.\.0\)/);
  });

  it("classifies zero-shot: probabilities over the labels, ranked as the ITC similarities, templates averaged", async () => {
    const labels = ["red", "green", "blue"];
    const [ranked] = await model.zeroShot([samples[0].jpg], labels, { templates: ["a {} shape", "something {}"] });
    assert.equal(ranked.length, 3);
    assert.ok(
      close(
        ranked.reduce((a, r) => a + r.probability, 0),
        1,
      ),
    );
    for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].similarity >= ranked[i].similarity);
    const plain = await model.zeroShot([samples[0].jpg], labels);
    const single = await model.score(samples[0].jpg, labels);
    for (const r of plain[0]) assert.ok(close(r.similarity, single.find((s) => s.text === r.label)!.similarity));
    await assert.rejects(model.zeroShot([samples[0].jpg], labels, { templates: ["no slot"] }), /every template needs "\{\}"/);
  });

  it("frees every tensor it makes", async () => {
    await assertNoTensorLeak(async () => {
      await model.score(samples[0].jpg, ["a caption", "another one"]);
      await model.gradcam(samples[1].jpg, samples[1].caption);
      await model.zeroShot([samples[0].jpg, samples[1].jpg], ["a", "b"]);
      model.embedTexts(["x"]);
    });
  });

  it("names a bad image, an unknown run and a weights file without its config", async () => {
    await assert.rejects(model.embedImages([samples[0].jpg, new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3])]), /image 1 \(6 encoded bytes\)/);
    await assert.rejects(model.score(join(tmp.path, "missing.jpg"), ["x"]), /missing\.jpg: cannot read the image file/);
    await assert.rejects(
      model.embedImages([{ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }]),
      /5 bytes of pixels, expected width·height·channels = 12/,
    );
    await assert.rejects(loadModel(join(tmp.path, "runs", "nope")), /runs\/nope: no such run folder, checkpoint folder or weights file/);
    const weights = join(run, "checkpoints", "step-0000006", "model.safetensors");
    await assert.rejects(loadModel(weights), /is a weights file: give the config that describes its model/);
    const fromFile = await loadModel(weights, { config: join(run, "config.yaml") });
    const a = await fromFile.embedImages([samples[0].jpg]);
    const b = await model.embedImages([samples[0].jpg]);
    assert.deepEqual(a.data, b.data, "the file and the run give one model");
    fromFile.dispose();
    await assert.rejects(fromFile.embedImages([samples[0].jpg]), /was disposed/);
  });
});

function pixelsOf(model: PolyalignModel, jpg: Uint8Array): Promise<Float32Array> {
  return modelPixels(jpg, model.transform, "spec");
}
