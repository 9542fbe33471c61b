import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createLogger,
  Fusion,
  Linear,
  loadPluginModules,
  Module,
  PluginError,
  PluginRegistry,
  prepareRun,
  tf,
  TextEncoder,
  validateConfig,
  VisionEncoder,
  buildEncoderModel,
  z,
  ConfigError,
  type FusionInput,
  type Tensor,
} from "../../../core/index.ts";
import * as polyalign from "../../../core/index.ts";
import { builtinRegistry, CORE_API_MODULE } from "../../../plugins/index.ts";
import { REPO_ROOT, tempDir, useTestBackend } from "../../helpers.ts";
import { writeFileSync } from "node:fs";

const quiet = createLogger({ level: "error" });

class MeanFusion extends Module implements Fusion {
  readonly proj: Linear;
  constructor(
    readonly width: number,
    visionWidth: number,
    rng: polyalign.Rng,
  ) {
    super();
    this.proj = this.child("proj", new Linear(visionWidth, width, rng));
  }
  forward({ text, image }: FusionInput): Tensor {
    return tf.tidy(() => tf.add(text, tf.mean(this.proj.forward(image), 1, true)));
  }
}

const tinyModel = {
  vision: { name: "vit", imageSize: 16, patch: 8, width: 16, depth: 1, heads: 2 },
  text: { name: "bert", vocab: 50, width: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 16 },
  fusion: { name: "cross-attention", layers: 1, heads: 2 },
};

describe("core/registry", () => {
  before(useTestBackend);

  it("registers plugins explicitly and looks them up by kind and name", () => {
    const r = new PluginRegistry();
    r.registerPlugin({ kind: Fusion, name: "mean", schema: z.strictObject({}), create: () => ({}) as Fusion });
    assert.ok(r.has(Fusion, "mean"));
    assert.equal(r.has(VisionEncoder, "mean"), false, "names are per kind");
    assert.equal(r.get(Fusion, "mean").source, "builtin");
    assert.deepEqual(r.names(Fusion), ["mean"]);
  });

  it("an unknown name fails with the known names and a did-you-mean hint", () => {
    const r = builtinRegistry();
    assert.throws(
      () => r.get(Fusion, "cross-atention"),
      (e: unknown) =>
        e instanceof PluginError && /unknown Fusion plugin "cross-atention" \(did you mean "cross-attention"\?\); known: cross-attention/.test(e.message),
    );
  });

  it("duplicate and malformed names are refused, naming who registered first", () => {
    const r = builtinRegistry();
    assert.throws(
      () => r.registerPlugin({ kind: VisionEncoder, name: "vit", schema: z.strictObject({}), create: () => ({}) as VisionEncoder }),
      /VisionEncoder plugin "vit" is already registered \(by builtin\)/,
    );
    assert.throws(
      () => r.registerPlugin({ kind: Fusion, name: "has space", schema: z.strictObject({}), create: () => ({}) as Fusion }),
      /must be a non-empty identifier/,
    );
  });

  it("a run scope builds each configured plugin once; two runs never share instances", async () => {
    const registry = builtinRegistry();
    const a = await prepareRun(registry, { model: tinyModel }, { log: quiet });
    const b = await prepareRun(registry, { model: tinyModel }, { log: quiet });
    const fa = a.scope.resolve(Fusion);
    assert.equal(a.scope.resolve(Fusion), fa, "cached within a run");
    assert.notEqual(b.scope.resolve(Fusion), fa, "separate across runs");
    assert.equal(fa.width, 16, "fusion width taken from the resolved TextEncoder");
    assert.throws(() => a.scope.resolve(polyalign.Tokenizer), /selects no Tokenizer plugin/);
    for (const s of [a.scope, b.scope]) for (const k of [VisionEncoder, TextEncoder, Fusion]) s.resolve<Module>(k).dispose();
  });

  it("a custom fusion plugin registered in code is selected by config and runs in the model", async () => {
    const registry = builtinRegistry();
    registry.registerPlugin({
      kind: Fusion,
      name: "mean-pool",
      schema: z.strictObject({}),
      create: (_cfg, ctx) => new MeanFusion(ctx.resolve(TextEncoder).width, ctx.resolve(VisionEncoder).width, ctx.rng),
    });
    const { scope } = await prepareRun(registry, { model: { ...tinyModel, fusion: { name: "mean-pool" } } }, { log: quiet });
    const model = buildEncoderModel(scope).eval();
    assert.ok(model.fusion instanceof MeanFusion);
    const out = model.forward({
      images: tf.randomNormal([2, 3, 16, 16]),
      ids: tf.tensor2d(
        [
          [1, 5, 6],
          [1, 7, 0],
        ],
        [2, 3],
        "int32",
      ),
      mask: tf.tensor2d(
        [
          [1, 1, 1],
          [1, 1, 0],
        ],
        [2, 3],
        "int32",
      ),
    });
    assert.deepEqual(out.fused.shape, [2, 3, 16]);
    tf.dispose([out.fused, out.imageEmbeds, out.textEmbeds]);
    model.dispose();
  });

  it("the README's user plugin module (examples/gated-fusion) loads from config and runs a forward pass", async () => {
    const registry = builtinRegistry();
    const before = tf.memory().numTensors;
    const { config, scope } = await prepareRun(registry, join(REPO_ROOT, "examples/gated-fusion/config.yaml"), { log: quiet });
    assert.equal(config.model?.fusion.name, "gated-pool");
    assert.equal(config.model?.fusion.scale, 0.5);
    assert.match(registry.get(Fusion, "gated-pool").source, /examples\/gated-fusion\/gated-fusion\.js$/);
    const model = buildEncoderModel(scope).eval();
    const names = [...model.namedParameters()].map(([n]) => n);
    assert.ok(names.includes("fusion.gate.weight") && names.includes("fusion.image_proj.bias"), names.join());
    const batch = polyalign.randomVisionLanguageBatch(config, 2, 8);
    const out = model.forward(batch);
    assert.deepEqual(out.fused.shape, [2, 8, 64]);
    assert.ok(out.fused.dataSync().every(Number.isFinite));
    // the fusion changed the text features (the plugin really ran)
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(out.fused, out.textEmbeds))).dataSync()[0]) > 1e-4);
    tf.dispose([out.fused, out.imageEmbeds, out.textEmbeds, batch.images, batch.ids, batch.mask]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  });

  it("a config naming a plugin nobody registered fails at config time with the known names", () => {
    assert.throws(
      () => validateConfig({ model: { ...tinyModel, fusion: { name: "gated-pool" } } }, builtinRegistry()),
      (e: unknown) =>
        e instanceof ConfigError && e.path === "model.fusion.name" && /unknown Fusion plugin "gated-pool"; known: cross-attention/.test(e.message),
    );
  });

  it("plugin module errors name the module: missing file, no default export, throwing register", async () => {
    const tmp = tempDir();
    try {
      const r = new PluginRegistry({ apiModule: CORE_API_MODULE });
      await assert.rejects(loadPluginModules(["./nope.js"], r, tmp.path), /plugin module not found: .*nope\.js/);
      writeFileSync(join(tmp.path, "no-default.mjs"), "export const x = 1;\n");
      await assert.rejects(loadPluginModules(["./no-default.mjs"], r, tmp.path), /has no default export to call/);
      writeFileSync(join(tmp.path, "throws.mjs"), "export default function () { throw new Error('boom'); }\n");
      await assert.rejects(loadPluginModules(["./throws.mjs"], r, tmp.path), /throws\.mjs threw while registering: boom/);
      writeFileSync(join(tmp.path, "syntax.mjs"), "export default function ( {\n");
      await assert.rejects(loadPluginModules(["./syntax.mjs"], r, tmp.path), /syntax\.mjs failed to load/);
      writeFileSync(join(tmp.path, "fine.mjs"), "export default function (registry, api) { if (!api.Fusion) throw new Error('no api'); }\n");
      await assert.rejects(loadPluginModules(["./fine.mjs"], new PluginRegistry(), tmp.path), /has no API module to hand user plugin modules/);
      assert.deepEqual((await loadPluginModules(["./fine.mjs"], r, tmp.path)).length, 1, "the API module's namespace is handed over");
    } finally {
      tmp.cleanup();
    }
  });
});
