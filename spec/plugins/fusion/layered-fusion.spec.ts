import assert from "node:assert/strict";
import { Fusion, loadStateDict, moduleToStored, prepareRun, Rng, tf, createLogger, VisionEncoder, TextEncoder, type Module } from "../../../core/index.ts";
import { LayeredFusion } from "../../../plugins/fusion/layered-fusion.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { HypergraphFusionOptions } from "../../../plugins/fusion/options.ts";
import { assertClose, useTestBackend } from "../../helpers.ts";

const dims = { width: 8, visionWidth: 8, intermediate: 16 };

function fusion(cfg: Partial<HypergraphFusionOptions>, seed = 1): LayeredFusion {
  const c = HypergraphFusionOptions.parse({ layers: 2, heads: 2, dropout: 0, knn: 3, clusters: 2, iterations: 2, ...cfg });
  return new LayeredFusion(c, dims, new Rng(seed)).eval();
}

function inputs(seed: number, b = 2, l = 5, n = 4) {
  const r = new Rng(seed);
  const rand = (shape: number[]) =>
    tf.tensor(
      Float32Array.from({ length: shape.reduce((a, x) => a * x, 1) }, () => r.normal()),
      shape,
    );
  const mask = tf.tensor2d(
    Array.from({ length: b }, (_, i) => Array.from({ length: l }, (_, j) => (j < l - i ? 1 : 0))),
    [b, l],
    "int32",
  );
  return { text: rand([b, l, 8]), image: rand([b, n, 8]), textMask: mask };
}

describe("plugins/fusion: the layered fusion (cross, merged, hypergraph layers)", () => {
  before(useTestBackend);

  it("hypergraphLayers: [] is ALBEF's cross-attention fusion, bit for bit, under the same weights", async () => {
    const registry = builtinRegistry();
    const base = {
      model: {
        vision: { name: "vit", imageSize: 16, patch: 8, width: 8, depth: 1, heads: 2 },
        text: { name: "bert", vocab: 20, width: 8, layers: 1, heads: 2, intermediate: 16 },
        fusion: { name: "cross-attention", layers: 2, heads: 2, intermediate: 16, dropout: 0 },
      },
    };
    const a = await prepareRun(registry, base, { log: createLogger({ level: "error" }) });
    const hg = await prepareRun(
      registry,
      { model: { ...base.model, fusion: { name: "hypergraph", layers: 2, heads: 2, intermediate: 16, dropout: 0, hypergraphLayers: [] } } },
      { log: createLogger({ level: "error" }) },
    );
    const fa = a.scope.resolve(Fusion).eval();
    const fh = hg.scope.resolve(Fusion).eval();
    const report = loadStateDict(fh, moduleToStored(fa));
    assert.equal(report.loaded.length, [...fa.stateEntries()].length, "same parameter names");
    const x = inputs(3);
    assert.deepEqual(fh.forward(x).dataSync(), fa.forward(x).dataSync());
    for (const s of [a.scope, hg.scope]) for (const k of [VisionEncoder, TextEncoder, Fusion]) s.resolve<Module>(k).dispose();
  });

  it("names the branch under its layer; a branch layer changes the output; no NaN with one valid text token", () => {
    const f = fusion({ hypergraphLayers: [1] });
    const names = [...f.namedParameters()].map(([n]) => n);
    assert.ok(names.includes("layer.1.hypergraph.theta.weight") && names.includes("layer.1.hypergraph_fusion.branch_bias"));
    assert.ok(!names.some((n) => n.startsWith("layer.0.hypergraph")));
    const x = inputs(4);
    const plain = fusion({ hypergraphLayers: [] });
    loadStateDict(plain, moduleToStored(f), { strict: false });
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(f.forward(x), plain.forward(x)))).dataSync()[0]);
    assert.ok(d > 1e-4, `the branch made no difference (${d})`);
    const one = {
      ...x,
      textMask: tf.tensor2d(
        [
          [1, 0, 0, 0, 0],
          [1, 0, 0, 0, 0],
        ],
        [2, 5],
        "int32",
      ),
    };
    for (const cfg of [
      {},
      { attention: "merged" as const },
      { modalityMode: "cross" as const },
      { modalityMode: "balanced" as const, knn: 5 },
      { clusters: 9 },
      { norm: "mean" as const, branch: "literal" as const, fusion: "gate" as const },
    ]) {
      const g = fusion(cfg);
      assert.ok(g.forward(one).dataSync().every(Number.isFinite), JSON.stringify(cfg));
      g.dispose();
    }
    f.dispose();
    plain.dispose();
  });

  it("padding invariance: changing padded text tokens leaves the valid rows unchanged", () => {
    const f = fusion({});
    const x = inputs(5);
    const y1 = f.forward(x).arraySync() as number[][][];
    const noisy = tf.tidy(() => tf.add(x.text, tf.mul(tf.sub(1, tf.expandDims(tf.cast(x.textMask, "float32"), 2)), 7)));
    const y2 = f.forward({ ...x, text: noisy }).arraySync() as number[][][];
    for (let b = 0; b < 2; b++) for (let l = 0; l < 5 - b; l++) assertClose(y2[b][l], y1[b][l], 1e-5);
    f.dispose();
  });

  it("gradients: finite differences agree through a hypergraph layer (merged and cross)", () => {
    for (const attention of ["cross", "merged"] as const) {
      const f = fusion({ attention, hypergraphLayers: [0], edgeWeights: "groupLearnable", branch: "literal" }, 7);
      const x = inputs(6);
      const w = tf.randomNormal([2, 5, 8], 0, 1, "float32", 3);
      const loss = () => tf.sum(tf.mul(f.forward(x), w)) as tf.Scalar;
      const params = [...f.namedParameters()].filter(([n]) => /hypergraph\.(theta|mlp\.fc1)\.weight|cluster_weight|hypergraph_fusion\.score\.weight/.test(n));
      const { grads } = tf.variableGrads(
        loss,
        params.map(([, v]) => v),
      );
      for (const [name, v] of params) {
        const g = grads[v.name].dataSync();
        const vals = v.dataSync().slice();
        for (const i of [0, Math.floor(vals.length / 2)]) {
          const eps = 1e-2;
          const probe = (d: number) => {
            const c = vals.slice();
            c[i] += d;
            v.assign(tf.tensor(c, [...v.shape]));
            return loss().dataSync()[0];
          };
          const fd = (probe(eps) - probe(-eps)) / (2 * eps);
          v.assign(tf.tensor(vals, [...v.shape]));
          assert.ok(Math.abs(fd - g[i]) <= 2e-2 * Math.max(1, Math.abs(fd)), `${attention} ${name}[${i}]: analytic ${g[i]} vs numeric ${fd}`);
        }
      }
      tf.dispose(Object.values(grads));
      f.dispose();
    }
  });
});
