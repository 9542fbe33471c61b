/**
 * `polyalign checkpoint export`: ALBEF's tiny fixture → a polyalign model →
 * its checkpoint → exported under ALBEF's names gives exactly ALBEF's key list
 * and tensors (bit for bit), and re-loads to the same model; a hypergraph
 * model's branch is listed as having no ALBEF counterpart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../cli/main.ts";
import { configFromOracle, type OracleConfig } from "../../cli/commands/reference-forward.ts";
import {
  buildVisionLanguageModel,
  createLogger,
  loadInitialWeights,
  loadVisionLanguageWeights,
  prepareRun,
  readSafetensors,
  saveModule,
  type Module,
  type VisionLanguageModel,
} from "../../core/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { buildNlvrModel } from "../../plugins/tasks/nlvr/build.ts";
import type { NlvrModel } from "../../plugins/tasks/nlvr/model.ts";
import { loadNlvrWeights } from "../../plugins/tasks/nlvr/weights.ts";
import { buildVqaModel } from "../../plugins/tasks/vqa/build.ts";
import type { VqaModel } from "../../plugins/tasks/vqa/model.ts";
import { loadVqaWeights } from "../../plugins/tasks/vqa/weights.ts";
import { sharedPathOrSkip, tempDir, useTestBackend } from "../helpers.ts";

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runCli(args, { out: (s) => lines.push(s), log: createLogger({ level: "error" }) });
  return { code, out: lines.join("\n") };
}

describe("cli: polyalign checkpoint export", function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    await useTestBackend();
    tmp = tempDir();
  });
  after(() => tmp.cleanup());

  async function modelFrom(file: string, oracle: OracleConfig, fusion?: string): Promise<VisionLanguageModel> {
    const raw = configFromOracle(oracle) as { model: { fusion: Record<string, unknown> } };
    if (fusion) raw.model.fusion = { ...raw.model.fusion, name: fusion };
    const { scope } = await prepareRun(builtinRegistry(), { name: "export", seed: 1, ...raw }, { log: createLogger({ level: "error" }) });
    const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
    loadInitialWeights(model, file, { fusionStart: oracle.bert.fusion_layer, optional: (n) => n.includes("hypergraph") });
    return model;
  }
  const stateOf = (m: Module) => new Map([...m.stateEntries()].map(([n, v]) => [n, Array.from(v.dataSync())]));
  const state = stateOf;

  it("round trip: ALBEF's state dict → model → export --layout albef is ALBEF's key list and tensors, bit for bit; it re-loads to the same model", async function () {
    const fixture = sharedPathOrSkip(this, "fixtures", "albef-tiny", "weights.safetensors");
    const ref = readSafetensors(fixture);
    const oracle = JSON.parse(ref.metadata.albef_oracle_config) as OracleConfig;
    const model = await modelFrom(fixture, oracle);
    const ours = join(tmp.path, "model.safetensors");
    saveModule(model, ours);
    const out = join(tmp.path, "albef.safetensors");
    const r = await cli("checkpoint", "export", ours, "--out", out);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`268 tensors from .* under ALBEF's names \\(fusion_layer ${oracle.bert.fusion_layer}\\)`));
    const exported = readSafetensors(out);
    assert.deepEqual([...exported.tensors.keys()].sort(), [...ref.tensors.keys()].sort(), "ALBEF's key list");
    for (const [k, t] of ref.tensors) {
      const e = exported.tensors.get(k)!;
      assert.equal(e.dtype, t.dtype, k);
      assert.deepEqual(e.shape, t.shape, k);
      assert.ok(Buffer.from(e.data).equals(Buffer.from(t.data)), `${k}: bytes differ`);
    }
    const again = await modelFrom(out, oracle);
    assert.deepEqual(state(again), state(model));
    again.dispose();
    model.dispose();
    const taken = await cli("checkpoint", "export", ours, "--out", out);
    assert.equal(taken.code, 2);
    assert.match(taken.out, /exists \(use --force to replace it\)/);
  });

  it("NLVR2 and VQA models, and a retrieval model without the MLM head: exported in their ALBEF layouts, they re-load to the same models", async function () {
    const fixture = sharedPathOrSkip(this, "fixtures", "albef-tiny", "weights.safetensors");
    const oracle = JSON.parse(readSafetensors(fixture).metadata.albef_oracle_config) as OracleConfig;
    const fs = oracle.bert.fusion_layer;
    const scopeOf = async () =>
      (await prepareRun(builtinRegistry(), { name: "export", seed: 1, ...configFromOracle(oracle) }, { log: createLogger({ level: "error" }) })).scope;
    const roundTrip = async (build: () => Promise<Module & { dispose(): void }>, load: (m: Module, file: string) => void, name: string) => {
      const a = await build();
      load(a, fixture);
      const ours = join(tmp.path, `${name}.safetensors`);
      saveModule(a, ours);
      const out = join(tmp.path, `${name}-albef.safetensors`);
      const r = await cli("checkpoint", "export", ours, "--out", out);
      assert.equal(r.code, 0, r.out);
      const b = await build();
      load(b, out);
      assert.deepEqual(stateOf(b), stateOf(a), name);
      a.dispose();
      b.dispose();
      return [...readSafetensors(out).tensors.keys()];
    };
    const nlvrKeys = await roundTrip(
      async () => buildNlvrModel(await scopeOf(), { momentum: 0.995, pooling: "cls", classes: 2 }),
      (m, f) => loadNlvrWeights(m as NlvrModel, f, fs),
      "nlvr",
    );
    // ALBEF's NLVR2 BERT: text layers, then each pair as two layers; a plain BertModel (no `bert.`)
    assert.ok(nlvrKeys.includes(`text_encoder.encoder.layer.${fs + 1}.crossattention.self.query.weight`));
    assert.ok(nlvrKeys.includes("cls_head.0.weight") && !nlvrKeys.some((k) => k.startsWith("text_encoder.bert.")));
    const vqaKeys = await roundTrip(
      async () => buildVqaModel(await scopeOf(), { momentum: 0.995 }),
      (m, f) => loadVqaWeights(m as VqaModel, f, fs),
      "vqa",
    );
    assert.ok(vqaKeys.includes("text_decoder.bert.encoder.layer.0.attention.self.query.weight") && vqaKeys.includes("text_decoder.cls.predictions.bias"));
    assert.ok(vqaKeys.includes("text_encoder.embeddings.position_ids") && vqaKeys.includes("text_decoder.bert.embeddings.position_ids"));
    // a retrieval model (ITC + ITM, `mlmHead: false`): ALBEF's retrieval layout, `bert.` stripped as in mscoco.pth
    const retrievalKeys = await roundTrip(
      async () => {
        const raw = configFromOracle(oracle) as { objectives: { name: string }[]; model: { text: Record<string, unknown> } };
        raw.objectives = raw.objectives.filter((o) => o.name !== "mlm");
        raw.model.text = { ...raw.model.text, mlmHead: false };
        const { scope } = await prepareRun(builtinRegistry(), { name: "export", seed: 1, ...raw }, { log: createLogger({ level: "error" }) });
        return buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
      },
      (m, f) => loadVisionLanguageWeights(m as VisionLanguageModel, f, fs),
      "retrieval",
    );
    assert.ok(retrievalKeys.includes(`text_encoder.encoder.layer.${fs}.crossattention.self.key.weight`));
    assert.ok(!retrievalKeys.some((k) => k.startsWith("text_encoder.bert.") || k.startsWith("text_encoder.cls.")));
  });

  it("a hypergraph model: the branch is exported too and named as having no ALBEF counterpart; a bad --layout is a usage error", async function () {
    const fixture = sharedPathOrSkip(this, "fixtures", "albef-tiny", "weights.safetensors");
    const oracle = JSON.parse(readSafetensors(fixture).metadata.albef_oracle_config) as OracleConfig;
    const model = await modelFrom(fixture, oracle, "hypergraph");
    const ours = join(tmp.path, "hyper.safetensors");
    saveModule(model, ours);
    const branch = [...model.stateEntries()].filter(([n]) => n.includes("hypergraph")).length;
    model.dispose();
    assert.ok(branch > 0);
    const r = await cli("checkpoint", "export", ours, "--out", join(tmp.path, "hyper-albef.safetensors"));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`${branch} of them \\(the hypergraph branch\\) have no counterpart in ALBEF's model`));
    const keys = [...readSafetensors(join(tmp.path, "hyper-albef.safetensors")).tensors.keys()];
    assert.ok(keys.filter((k) => k.includes("hypergraph")).every((k) => /^text_encoder(_m)?\.bert\.encoder\.layer\.\d+\.hypergraph/.test(k)));
    const bad = await cli("checkpoint", "export", ours, "--out", join(tmp.path, "x.safetensors"), "--layout", "timm");
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--layout must be albef or polyalign, got "timm"/);
  });
});
