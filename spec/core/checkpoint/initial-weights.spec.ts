/**
 * Starting fine-tuning from pre-trained weights: ALBEF's own state dict (the
 * tiny fixture, ALBEF names, 32 px) into a retrieval model at another
 * resolution — names mapped, position embeddings interpolated, the id queue
 * fresh — and the errors for what does not fit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildPretrainModel,
  createLogger,
  loadInitialWeights,
  prepareRun,
  readSafetensors,
  resolveWeightsFile,
  toFloat32,
} from "../../../core/index.ts";
import { configFromOracle, type OracleConfig } from "../../../core/cli/commands/reference-forward.ts";
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
    const model = buildPretrainModel(scope, { embedDim: oracle.embed_dim, queueSize: oracle.queue_size, momentum: 0.995, temp: 0.07, idQueue: true });
    const r = loadInitialWeights(model, file, { fusionStart: oracle.bert.fusion_layer, optional: (n) => n === "idx_queue" });
    assert.deepEqual(r.fresh, ["idx_queue"]);
    const state = new Map([...model.stateEntries()].map(([n, v]) => [n, v]));
    const same = (ours: string, albef: string) => {
      const a = state.get(ours)!.dataSync();
      const b = toFloat32(st.tensors.get(albef)!);
      assert.equal(a.length, b.length, ours);
      assert.ok(a.every((v, i) => v === b[i]), `${ours} = ${albef}`);
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
    assert.deepEqual(Array.from(model.queuedIds()).slice(0, 3), [-100, -100, -100]);
    model.dispose();
  });

  it("names what is missing or mis-shaped and loads nothing; a folder without weights says so", async function () {
    const file = join(sharedPathOrSkip(this, "fixtures", "albef-tiny"), "weights.safetensors");
    const oracle = JSON.parse(readSafetensors(file).metadata.albef_oracle_config) as OracleConfig;
    const raw = configFromOracle({ ...oracle, bert: { ...oracle.bert, intermediate_size: 128 } });
    const { scope } = await prepareRun(builtinRegistry(), { name: "ft", seed: 1, ...raw }, { log: createLogger({ level: "error" }) });
    const model = buildPretrainModel(scope, { embedDim: oracle.embed_dim, queueSize: oracle.queue_size, momentum: 0.995, temp: 0.07 });
    const query = new Map([...model.stateEntries()].map(([n, v]) => [n, v])).get("fusion.layer.0.attention.self.query.weight")!;
    const before = query.dataSync().slice();
    assert.throws(() => loadInitialWeights(model, file, { fusionStart: 2 }), /does not match the model .*shape mismatch \d+: .*intermediate\.dense\.weight model \[128,64\] vs file \[256,64\]/s);
    assert.deepEqual(query.dataSync(), before, "nothing was loaded");
    const empty = tempDir();
    try {
      assert.throws(() => resolveWeightsFile(empty.path), /a folder without model\.safetensors or checkpoints\/latest\.json/);
    } finally {
      empty.cleanup();
    }
    model.dispose();
  });
});
