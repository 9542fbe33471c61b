/**
 * The encoder plugins beside ALBEF's fixture (albef-fixture.spec.ts): their
 * state-dict names (timm's ViT, HF's BERT with the MLM decoder tied to the
 * word embeddings), shapes, the attention probe Grad-CAM uses, padding and
 * the errors for inputs that do not fit.
 */
import assert from "node:assert/strict";
import { alibiBias, createLogger, Fusion, prepareRun, type RunScope, TextEncoder, type Tensor, tf, VisionEncoder } from "../../../core/index.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { assertClose, pythonWith, runPython, useTestBackend } from "../../helpers.ts";
import { tinyModelConfig } from "../../tiny-model.ts";

async function scope(): Promise<RunScope> {
  return (await prepareRun(builtinRegistry(), tinyModelConfig({ name: "cross-attention" }), { log: createLogger({ level: "error" }) })).scope;
}

describe("plugins/encoders: vit and bert", () => {
  before(useTestBackend);

  it("vit: timm's names, [B, 1 + N, width] tokens, a probe that stands in for a block's attention, shape errors", async () => {
    const vit = (await scope()).resolve(VisionEncoder);
    vit.eval();
    const shapes = new Map([...vit.stateEntries()].map(([n, v]) => [n, v.shape]));
    assert.deepEqual(shapes.get("cls_token"), [1, 1, 16]);
    assert.deepEqual(shapes.get("pos_embed"), [1, 5, 16], "CLS + (16 / 8)² patches");
    assert.deepEqual(shapes.get("patch_embed.proj.weight"), [16, 3, 8, 8]);
    assert.deepEqual(shapes.get("blocks.0.attn.qkv.weight"), [48, 16], "fused q, k, v in PyTorch's [out, in]");
    const images = tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 4);
    const plain = vit.forward(images);
    assert.deepEqual(plain.shape, [2, 5, 16]);
    const attention = vit.selfAttention!(0);
    attention.probe = (p: Tensor) => p;
    const same = vit.forward(images);
    attention.probe = (p: Tensor) => tf.zerosLike(p);
    const blind = vit.forward(images);
    attention.probe = null;
    assert.deepEqual(Array.from(same.dataSync()), Array.from(plain.dataSync()), "an identity probe changes nothing");
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(blind, plain))).dataSync()[0]) > 1e-4, "the probe stands in for the probabilities");
    assert.throws(() => vit.forward(tf.zeros([1, 3, 24, 24])), /vit: expected images \[B, 3, 16, 16\], got \[1,3,24,24\]/);
    assert.throws(() => vit.selfAttention!(1), /vit block 1 does not exist \(0\.\.0\)/);
    tf.dispose([images, plain, same, blind]);
  });

  it("bert: HF's names, the MLM decoder tied to the word embeddings, padding-blind valid rows, a too-long text refused", async () => {
    const bert = (await scope()).resolve(TextEncoder);
    bert.eval();
    const entries = new Map([...bert.stateEntries()].map(([n, v, meta]) => [n, { v, meta }]));
    assert.equal(entries.get("cls.predictions.decoder.weight")?.meta.tiedTo, "bert.embeddings.word_embeddings.weight");
    assert.equal(entries.get("cls.predictions.decoder.weight")?.v, entries.get("bert.embeddings.word_embeddings.weight")?.v, "one variable");
    assert.ok(entries.has("bert.encoder.layer.0.attention.self.query.weight") && entries.has("bert.embeddings.token_type_embeddings.weight"));
    const mask = tf.tensor2d([[1, 1, 1, 0, 0]], [1, 5], "int32");
    const a = bert.forward(tf.tensor2d([[1, 7, 8, 0, 0]], [1, 5], "int32"), mask);
    const b = bert.forward(tf.tensor2d([[1, 7, 8, 30, 31]], [1, 5], "int32"), mask);
    const rows = (t: Tensor) => Array.from(tf.tidy(() => tf.slice(t, [0, 0, 0], [1, 3, -1]).dataSync()));
    rows(a).forEach((x, i) => assert.ok(Math.abs(x - rows(b)[i]) < 1e-5, "what padding holds does not reach the tokens"));
    const logits = bert.mlmLogits!(a);
    assert.deepEqual(logits.shape, [1, 5, 40]);
    assert.throws(() => bert.forward(tf.zeros([1, 17], "int32"), tf.ones([1, 17], "int32")), /bert: text length 17 exceeds maxPositions 16/);
    tf.dispose([mask, a, b, logits]);
  });

  it("initStd sets the std of BERT's and the fusion's normal initialisation (default 0.02, BERT's)", async () => {
    const std = (t: Tensor) => tf.tidy(() => Math.sqrt(tf.moments(t).variance.dataSync()[0]));
    const base = tinyModelConfig({ name: "cross-attention" }, { vocab: 400 });
    for (const initStd of [0.02, 0.07]) {
      const cfg = { ...base, model: { ...base.model, text: { ...base.model.text, initStd }, fusion: { ...base.model.fusion, initStd } } };
      const s = (await prepareRun(builtinRegistry(), cfg, { log: createLogger({ level: "error" }) })).scope;
      const text = new Map([...s.resolve(TextEncoder).namedParameters()]);
      const fusion = new Map([...s.resolve(Fusion).namedParameters()]);
      for (const [what, t] of [
        ["word embeddings", text.get("bert.embeddings.word_embeddings.weight")!],
        ["text layer query", text.get("bert.encoder.layer.0.attention.self.query.weight")!],
        ["fusion cross-attention value", fusion.get("layer.0.crossattention.self.value.weight")!],
      ] as const) {
        const got = std(t);
        assert.ok(Math.abs(got - initStd) < 0.15 * initStd, `${what}: std ${got} for initStd ${initStd}`);
      }
    }
  });
  it("alibiBias: −slope_h · |i − j| with slopes maxSlope · 2^(−8h/heads) (the worked example)", () => {
    const b = alibiBias(2, 3, 1);
    assert.deepEqual(b.shape, [1, 2, 3, 3]);
    const s = 2 ** -4;
    assert.deepEqual(Array.from(b.dataSync()), [0, -1, -2, -1, 0, -1, -2, -1, 0, 0, -s, -2 * s, -s, 0, -s, -2 * s, -s, 0]);
    b.dispose();
  });

  it("bert alibi: with a steep bias each token reads only itself, so another word leaves its state alone; without it, it does not", async () => {
    const base = tinyModelConfig({ name: "cross-attention" });
    const stateAt0 = async (alibi: number | undefined, second: number) => {
      const cfg = { ...base, model: { ...base.model, text: { ...base.model.text, heads: 1, alibi } } };
      const bert = (await prepareRun(builtinRegistry(), cfg, { log: createLogger({ level: "error" }) })).scope.resolve(TextEncoder);
      bert.eval();
      return tf.tidy(() =>
        Array.from(
          bert
            .forward(tf.tensor2d([[1, 7, second, 9]], [1, 4], "int32"), tf.ones([1, 4], "int32"))
            .slice([0, 1, 0], [1, 1, -1])
            .dataSync(),
        ),
      );
    };
    const gap = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
    assert.ok(gap(await stateAt0(1e4, 8), await stateAt0(1e4, 12)) < 1e-6, "token 1 does not see token 2 through a bias of −10⁴");
    assert.ok(gap(await stateAt0(undefined, 8), await stateAt0(undefined, 12)) > 1e-4, "BERT's token 1 sees token 2");
  });
});

describe("plugins/encoders: the vit's convolutional stem", () => {
  before(useTestBackend);

  it("stem: [4, 6] — 3×3 convolutions with GELU, then the patch projection — equals PyTorch's conv2d, output and gradients", async function () {
    const py = pythonWith("torch");
    if (!py) this.skip();
    const cfg = tinyModelConfig({ name: "cross-attention" }) as { model: { vision: Record<string, unknown> } };
    cfg.model.vision = { ...cfg.model.vision, patch: 4, stem: [4, 6] };
    const run = await prepareRun(builtinRegistry(), cfg, { log: createLogger({ level: "error" }) });
    const vit = run.scope.resolve(VisionEncoder) as VisionEncoder & { patch_embed: { forward(x: Tensor): Tensor } };
    const state = Object.fromEntries(
      [...vit.stateEntries()].filter(([n]) => n.startsWith("patch_embed.")).map(([n, v]) => [n, { shape: v.shape, data: Array.from(v.dataSync()) }]),
    );
    assert.deepEqual(state["patch_embed.stem.0.weight"].shape, [4, 3, 3, 3]);
    assert.deepEqual(state["patch_embed.stem.1.weight"].shape, [6, 4, 3, 3]);
    assert.deepEqual(state["patch_embed.proj.weight"].shape, [16, 6, 4, 4]);
    const images = tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 11);
    const probe = tf.randomNormal([2, 16, 16], 0, 1, "float32", 12);
    const vars = [...vit.namedParameters()].filter(([n]) => n.startsWith("patch_embed."));
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(vit.patch_embed.forward(images), probe)) as tf.Scalar,
      vars.map(([, v]) => v),
    );
    const out = tf.tidy(() => vit.patch_embed.forward(images));
    const payload = JSON.stringify({ state, images: Array.from(images.dataSync()), probe: Array.from(probe.dataSync()) });
    const ref = JSON.parse(
      runPython(
        py as string,
        `
import json, sys, torch
import torch.nn.functional as F
d = json.loads(sys.stdin.read())
t = lambda e: torch.tensor(e["data"], dtype=torch.float64).reshape(e["shape"]).requires_grad_()
w = {k: t(v) for k, v in d["state"].items()}
x = torch.tensor(d["images"], dtype=torch.float64).reshape(2, 3, 16, 16)
for i in range(2):
    x = F.gelu(F.conv2d(x, w[f"patch_embed.stem.{i}.weight"], w[f"patch_embed.stem.{i}.bias"], padding=1))
y = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=4).flatten(2).transpose(1, 2)
(y * torch.tensor(d["probe"], dtype=torch.float64).reshape(2, 16, 16)).sum().backward()
print(json.dumps({"out": y.flatten().tolist(), "grads": {k: v.grad.flatten().tolist() for k, v in w.items()}}))
`,
        [],
        payload,
      ),
    ) as { out: number[]; grads: Record<string, number[]> };
    assertClose(out, ref.out, 1e-4, 1e-4);
    for (const [name, v] of vars) assertClose(grads[v.name], ref.grads[name], 1e-4, 1e-3);
    tf.dispose([images, probe, out, value, ...Object.values(grads)]);
  });
});
