/**
 * Reads ALBEF's own tiny-model fixture (../shared/fixtures/albef-tiny) and
 * checks that its weights load into polyalign's modules by name and give
 * ALBEF's numbers for the unimodal encoders and the fusion layers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  albefNameMap,
  loadStateDict,
  readSafetensors,
  renameEntries,
  Rng,
  selectPrefix,
  type SafetensorsContent,
  tf,
  toFloat32,
  toInt32,
} from "../../../core/index.ts";
import { LayeredFusion } from "../../../plugins/fusion/layered-fusion.ts";
import { BertTextEncoder, BertConfig } from "../../../plugins/encoders/bert.ts";
import { VitEncoder, VitConfig } from "../../../plugins/encoders/vit.ts";
import { HypergraphFusionOptions } from "../../../plugins/fusion/options.ts";
import { maxAbsDiff, sharedPathOrSkip, useTestBackend } from "../../helpers.ts";

describe("ALBEF tiny fixture (../shared/fixtures/albef-tiny)", () => {
  let weights: SafetensorsContent;
  let inputs: SafetensorsContent;
  let expected: SafetensorsContent;

  before(async function () {
    const dir = sharedPathOrSkip(this, "fixtures", "albef-tiny");
    await useTestBackend();
    weights = readSafetensors(join(dir, "weights.safetensors"));
    inputs = readSafetensors(join(dir, "inputs.safetensors"));
    expected = readSafetensors(join(dir, "expected.safetensors"));
  });

  it("lists the 268 keys of weights.safetensors with their shapes", () => {
    const listing = [...weights.tensors].map(([n, t]) => `${n} ${t.dtype} [${t.shape.join(",")}]`);
    assert.equal(listing.length, 268);
    const has = (line: string) => assert.ok(listing.includes(line), `missing ${line}`);
    has("temp F32 []");
    has("queue_ptr I64 [1]");
    has("image_queue F32 [32,64]");
    has("visual_encoder.pos_embed F32 [1,5,64]");
    has("visual_encoder.patch_embed.proj.weight F32 [64,3,16,16]");
    has("visual_encoder.blocks.1.attn.qkv.weight F32 [192,64]");
    has("text_encoder.bert.embeddings.word_embeddings.weight F32 [1024,64]");
    has("text_encoder.bert.encoder.layer.3.crossattention.self.key.weight F32 [64,64]");
    has("text_encoder_m.cls.predictions.decoder.bias F32 [1024]");
    has("itm_head.weight F32 [2,64]");
    const config = JSON.parse(weights.metadata.albef_oracle_config) as { bert: { fusion_layer: number } };
    assert.equal(config.bert.fusion_layer, 2);
  });

  it("ViT, BERT text layers and cross-attention fusion loaded by ALBEF names reproduce image_embeds, text_embeds and fusion_pos_last_hidden", () => {
    const rng = new Rng(0);
    const vit = new VitEncoder(VitConfig.parse({ imageSize: 32, patch: 16, width: 64, depth: 2, heads: 2 }), rng).eval();
    const bert = new BertTextEncoder(BertConfig.parse({ vocab: 1024, width: 64, layers: 2, heads: 2, intermediate: 256, maxPositions: 64 }), rng).eval();
    const fusionCfg = HypergraphFusionOptions.parse({ layers: 2, heads: 2, hypergraphLayers: [] });
    const fusion = new LayeredFusion(fusionCfg, { width: 64, visionWidth: 64, intermediate: 256 }, rng).eval();

    const names = albefNameMap(2);
    const vitReport = loadStateDict(vit, selectPrefix(weights.tensors, "visual_encoder."));
    assert.equal(vitReport.loaded.length, 30);
    const textSide = renameEntries(weights.tensors, names.fromAlbef);
    const bertReport = loadStateDict(bert, selectPrefix(textSide, "text_encoder."), {
      strict: false,
    });
    assert.deepEqual(bertReport.missing, []);
    assert.deepEqual(bertReport.mismatched, []);
    assert.ok(
      bertReport.unexpected.every((n) => n.startsWith("cls.") || n === "bert.embeddings.position_ids"),
      bertReport.unexpected.join(),
    );
    loadStateDict(fusion, selectPrefix(textSide, "fusion."));

    const t = (name: string, src = inputs) => src.tensors.get(name)!;
    const image = tf.tensor(toFloat32(t("image")), t("image").shape);
    const ids = tf.tensor(toInt32(t("input_ids")), t("input_ids").shape, "int32");
    const mask = tf.tensor(toInt32(t("attention_mask")), t("attention_mask").shape, "int32");

    const imageEmbeds = vit.forward(image);
    const textEmbeds = bert.forward(ids, mask);
    const fused = fusion.forward({ text: textEmbeds, textMask: mask, image: imageEmbeds });
    const check = (got: tf.Tensor, key: string) => {
      const want = toFloat32(t(key, expected));
      assert.deepEqual(got.shape, t(key, expected).shape, key);
      const d = maxAbsDiff(got.dataSync(), want);
      assert.ok(d < 1e-4, `${key}: max |diff| ${d}`);
    };
    check(imageEmbeds, "image_embeds");
    check(textEmbeds, "text_embeds");
    check(fused, "fusion_pos_last_hidden");
    tf.dispose([image, ids, mask, imageEmbeds, textEmbeds, fused]);
    vit.dispose();
    bert.dispose();
    fusion.dispose();
  });
});
