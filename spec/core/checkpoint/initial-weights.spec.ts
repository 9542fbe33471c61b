/**
 * Starting fine-tuning from pre-trained weights: ALBEF's own state dict (the
 * tiny fixture, ALBEF names, 32 px) into a retrieval model at another
 * resolution — names mapped, position embeddings interpolated, the id queue
 * fresh — and the errors for what does not fit.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  buildVisionLanguageModel,
  createLogger,
  fromFloat32,
  latestCheckpoint,
  loadInitialWeights,
  type Module,
  prepareRun,
  readSafetensors,
  resolveWeightsFile,
  type RunContext,
  type StoredTensor,
  toFloat32,
  writeSafetensors,
} from "../../../core/index.ts";
import { buildNlvrModel } from "../../../plugins/tasks/nlvr/build.ts";
import { buildVqaModel } from "../../../plugins/tasks/vqa/build.ts";
import { loadModelWeights } from "../../../plugins/tasks/shared/albef-model.ts";
import { loadNlvrWeights } from "../../../plugins/tasks/nlvr/weights.ts";
import { loadVqaWeights } from "../../../plugins/tasks/vqa/weights.ts";
import { configFromOracle, type OracleConfig } from "../../../cli/commands/reference-forward.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { sharedPathOrSkip, tempDir, useTestBackend } from "../../helpers.ts";

describe("core/checkpoint: initial weights for fine-tuning", () => {
  before(async () => {
    await useTestBackend();
  });

  it("loads ALBEF's state dict (the tiny fixture) into a retrieval model at 48 px: names mapped, pos-embed interpolated, idx_queue fresh", async function () {
    const file = join(sharedPathOrSkip(this, "fixtures", "albef-tiny"), "weights.safetensors");
    const st = readSafetensors(file);
    const oracle = JSON.parse(st.metadata.albef_oracle_config) as OracleConfig;
    const raw = configFromOracle({ ...oracle, image_res: 48 });
    const { scope } = await prepareRun(builtinRegistry(), { name: "ft", seed: 1, ...raw }, { log: createLogger({ level: "error" }) });
    const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: true });
    const r = loadInitialWeights(model, file, { fusionStart: oracle.bert.fusion_layer, optional: (n) => n === "idx_queue" });
    assert.deepEqual(r.fresh, ["idx_queue"]);
    const state = new Map([...model.stateEntries()].map(([n, v]) => [n, v]));
    const same = (ours: string, albef: string) => {
      const a = state.get(ours)!.dataSync();
      const b = toFloat32(st.tensors.get(albef)!);
      assert.equal(a.length, b.length, ours);
      assert.ok(
        a.every((v, i) => v === b[i]),
        `${ours} = ${albef}`,
      );
    };
    same("fusion.layer.1.crossattention.self.key.weight", "text_encoder.bert.encoder.layer.3.crossattention.self.key.weight");
    same("text_encoder.bert.encoder.layer.0.attention.self.query.weight", "text_encoder.bert.encoder.layer.0.attention.self.query.weight");
    same("fusion_m.layer.0.output.dense.bias", "text_encoder_m.bert.encoder.layer.2.output.dense.bias");
    same("image_queue", "image_queue");
    // 2×2 patches at 32 px → 3×3 at 48 px; the CLS entry is kept as it is
    const pos = state.get("visual_encoder.pos_embed")!;
    assert.deepEqual(pos.shape, [1, 10, 64]);
    const src = toFloat32(st.tensors.get("visual_encoder.pos_embed")!);
    assert.ok(Array.from(pos.dataSync().subarray(0, 64)).every((v, i) => v === src[i]));
    assert.deepEqual(Array.from(state.get("idx_queue")!.dataSync()).slice(0, 3), [-100, -100, -100]);
    model.dispose();
  });

  it("names what is missing or mis-shaped and loads nothing; a folder without weights says so", async function () {
    const file = join(sharedPathOrSkip(this, "fixtures", "albef-tiny"), "weights.safetensors");
    const oracle = JSON.parse(readSafetensors(file).metadata.albef_oracle_config) as OracleConfig;
    const raw = configFromOracle({ ...oracle, bert: { ...oracle.bert, intermediate_size: 128 } });
    const { scope } = await prepareRun(builtinRegistry(), { name: "ft", seed: 1, ...raw }, { log: createLogger({ level: "error" }) });
    const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
    const query = new Map([...model.stateEntries()].map(([n, v]) => [n, v])).get("fusion.layer.0.attention.self.query.weight")!;
    const before = query.dataSync().slice();
    assert.throws(
      () => loadInitialWeights(model, file, { fusionStart: 2 }),
      /does not match the model .*shape mismatch \d+: .*intermediate\.dense\.weight model \[128,64\] vs file \[256,64\]/s,
    );
    assert.deepEqual(query.dataSync(), before, "nothing was loaded");
    const empty = tempDir();
    try {
      assert.throws(() => resolveWeightsFile(empty.path), /a folder without model\.safetensors or checkpoints\/latest\.json/);
    } finally {
      empty.cleanup();
    }
    // a run folder moved away from where it ran: latest.json's relative dir no longer resolves from here, the folder still holds it
    const moved = tempDir();
    try {
      const step = join(moved.path, "checkpoints", "step-0000007");
      mkdirSync(step, { recursive: true });
      writeFileSync(join(step, "model.safetensors"), "x");
      writeFileSync(join(step, "trainer.json"), JSON.stringify({ step: 7 }));
      // what resuming needs: the optimizer state too
      writeFileSync(join(step, "optimizer.safetensors"), "x");
      writeFileSync(join(moved.path, "checkpoints", "latest.json"), JSON.stringify({ step: 7, dir: "runs/gone/checkpoints/step-0000007" }));
      assert.equal(resolveWeightsFile(moved.path), join(step, "model.safetensors"));
      assert.equal(latestCheckpoint(moved.path), step);
    } finally {
      moved.cleanup();
    }
    model.dispose();
  });

  describe("ALBEF's fine-tuned layouts (§1.6 of the reference), written from the tiny fixture", () => {
    let tmp: ReturnType<typeof tempDir>;
    let albef: Map<string, StoredTensor>;
    let oracle: OracleConfig;
    before(function () {
      const file = join(sharedPathOrSkip(this, "fixtures", "albef-tiny"), "weights.safetensors");
      const st = readSafetensors(file);
      albef = new Map(st.tensors);
      oracle = JSON.parse(st.metadata.albef_oracle_config) as OracleConfig;
      tmp = tempDir();
    });
    after(() => tmp?.cleanup());
    const scopeFor = async (o: OracleConfig) =>
      (await prepareRun(builtinRegistry(), { name: "ft", seed: 1, ...configFromOracle(o) }, { log: createLogger({ level: "error" }) })).scope;
    const write = (name: string, entries: Map<string, StoredTensor>) => {
      const f = join(tmp.path, name);
      writeSafetensors(f, entries);
      return f;
    };
    const stripBert = (n: string) => n.replace(/^(text_encoder(?:_m)?)\.bert\./, "$1.");
    const values = (m: Module, name: string) => new Map([...m.stateEntries()].map(([n, v]) => [n, v])).get(name)!.dataSync();
    const equal = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => v === b[i]);

    it("retrieval (mscoco.pth-style): `bert.` stripped, no MLM head, no momentum copies or queues — loads; momentum starts from the online weights", async () => {
      const released = new Map<string, StoredTensor>();
      for (const [n, t] of albef) {
        if (/_m\./.test(n) || /queue/.test(n) || /\.cls\./.test(n) || n.endsWith("position_ids")) continue;
        released.set(stripBert(n), t);
      }
      assert.ok([...released.keys()].some((n) => n.startsWith("text_encoder.encoder.layer.3.")));
      const model = buildVisionLanguageModel(await scopeFor(oracle), { batchSize: 1, imageIds: true });
      const quiet = createLogger({ level: "error" });
      const r = loadModelWeights(
        { scope: { config: { model: { text: { layers: oracle.bert.fusion_layer } } }, log: quiet } } as unknown as RunContext,
        model,
        write("retrieval.safetensors", released),
      );
      assert.ok(r.fresh.includes("text_encoder.cls.predictions.bias") && r.fresh.includes("image_queue"));
      const want = toFloat32(albef.get("text_encoder.bert.encoder.layer.3.crossattention.self.value.weight")!);
      assert.ok(equal(values(model, "fusion.layer.1.crossattention.self.value.weight"), want));
      assert.ok(equal(values(model, "fusion_m.layer.1.crossattention.self.value.weight"), want), "momentum copy = online");
      model.dispose();
    });

    it("NLVR2 (nlvr.pth-style): 2 BERT layers per fusion layer read as (image 0, image 1) pairs, shared key/value, cls_head", async () => {
      const f = oracle.bert.fusion_layer;
      const nlvr = new Map<string, StoredTensor>();
      const bump = (t: StoredTensor) =>
        fromFloat32(
          toFloat32(t).map((v) => v + 1),
          [...t.shape],
        );
      for (const [n, t] of albef) {
        const m = /^text_encoder\.bert\.encoder\.layer\.(\d+)\.(.*)$/.exec(n);
        if (/_m\.|queue|\.cls\.|position_ids|^temp$|_proj|itm_head/.test(n)) continue;
        if (!m || Number(m[1]) < f) {
          nlvr.set(stripBert(n), t);
          continue;
        }
        const i = Number(m[1]) - f;
        const shared = /crossattention\.self\.(key|value)\./.test(m[2]);
        nlvr.set(`text_encoder.encoder.layer.${f + 2 * i}.${m[2]}`, t);
        nlvr.set(`text_encoder.encoder.layer.${f + 2 * i + 1}.${m[2]}`, shared ? t : bump(t));
      }
      const w = oracle.bert.hidden_size;
      nlvr.set("cls_head.0.weight", fromFloat32(new Float32Array(w * w).fill(0.5), [w, w]));
      nlvr.set("cls_head.0.bias", fromFloat32(new Float32Array(w), [w]));
      nlvr.set("cls_head.2.weight", fromFloat32(new Float32Array(2 * w).fill(-0.25), [2, w]));
      nlvr.set("cls_head.2.bias", fromFloat32(new Float32Array(2), [2]));
      const model = buildNlvrModel(await scopeFor(oracle), { momentum: 0.995, pooling: "cls", classes: 2 });
      loadNlvrWeights(model, write("nlvr.safetensors", nlvr), f);
      const q = toFloat32(albef.get(`text_encoder.bert.encoder.layer.${f + 1}.attention.self.query.weight`)!);
      assert.ok(equal(values(model, "fusion.image0.layer.1.attention.self.query.weight"), q));
      assert.ok(
        equal(
          values(model, "fusion.image1.layer.1.attention.self.query.weight"),
          q.map((v) => v + 1),
        ),
      );
      assert.ok(
        equal(
          values(model, "fusion.image1.layer.0.crossattention.self.key.weight"),
          toFloat32(albef.get(`text_encoder.bert.encoder.layer.${f}.crossattention.self.key.weight`)!),
        ),
      );
      assert.ok(values(model, "cls_head.2.weight").every((v) => v === -0.25));
      model.dispose();
    });

    it("VQA (vqa.pth-style): text_decoder.bert.{embeddings, encoder.layer.L} and text_decoder.cls map onto the answer decoder", async () => {
      const vqa = new Map<string, StoredTensor>();
      const f = oracle.bert.fusion_layer;
      // the decoder's weights differ from the encoder's, as after fine-tuning: the file's own entries must win
      const bump = (t: StoredTensor) =>
        fromFloat32(
          toFloat32(t).map((v) => v + 1),
          [...t.shape],
        );
      for (const [n, t] of albef) {
        if (/_m\.|queue|position_ids|^temp$|_proj|itm_head/.test(n)) continue;
        const layer = /^text_encoder\.bert\.encoder\.layer\.(\d+)\.(.*)$/.exec(n);
        if (layer && Number(layer[1]) >= f) vqa.set(`text_decoder.bert.encoder.layer.${Number(layer[1]) - f}.${layer[2]}`, bump(t));
        const head = /^text_encoder\.(bert\.embeddings\..*|cls\..*)$/.exec(n);
        if (head) vqa.set(`text_decoder.${head[1]}`, bump(t));
        // ALBEF's VQA text encoder is a BertModel: no MLM head of its own
        if (!/^text_encoder\.cls\./.test(n)) vqa.set(stripBert(n), t);
      }
      const model = buildVqaModel(await scopeFor(oracle), { momentum: 0.995 });
      loadVqaWeights(model, write("vqa.safetensors", vqa), f);
      const plusOne = (name: string) => toFloat32(albef.get(name)!).map((v) => v + 1);
      assert.ok(
        equal(values(model, "text_decoder.layer.1.intermediate.dense.weight"), plusOne(`text_encoder.bert.encoder.layer.${f + 1}.intermediate.dense.weight`)),
      );
      assert.ok(
        equal(values(model, "text_decoder.text.bert.embeddings.word_embeddings.weight"), plusOne("text_encoder.bert.embeddings.word_embeddings.weight")),
      );
      assert.ok(equal(values(model, "text_decoder.text.cls.predictions.transform.dense.bias"), plusOne("text_encoder.cls.predictions.transform.dense.bias")));
      assert.ok(
        equal(
          values(model, "fusion.layer.1.intermediate.dense.weight"),
          toFloat32(albef.get(`text_encoder.bert.encoder.layer.${f + 1}.intermediate.dense.weight`)!),
        ),
      );
      model.dispose();
    });
  });
});
