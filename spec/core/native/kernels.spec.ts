/**
 * polyalign's cpu kernels (native addon and pure JS) against the stock tfjs
 * kernels — values and gradients, every transpose and broadcast case — and,
 * where stock tfjs is wrong (both-sides batch broadcasting), against a
 * reference computed another way.
 */
import assert from "node:assert/strict";
import {
  activeKernels,
  BertLayer,
  createJsOps,
  type CpuOps,
  installKernels,
  loadNativeOps,
  Rng,
  tf,
  uninstallKernels,
  additiveMask,
  gelu,
  layerNorm,
} from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

type Tensor = tf.Tensor;

function randn(shape: number[], seed: number, scale = 1): Tensor {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * r.normal();
  return tf.tensor(v, shape);
}

function positive(shape: number[], seed: number): Tensor {
  return tf.tidy(() => tf.add(tf.abs(randn(shape, seed)), 0.1));
}

/** Run `fn` and read every output (and the shapes) before anything is disposed. */
function evaluate(fn: () => Tensor | Tensor[]): { shapes: number[][]; values: Float32Array[] } {
  return tf.tidy(() => {
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    return { shapes: list.map((t) => [...t.shape]), values: list.map((t) => Float32Array.from(t.dataSync())) };
  });
}

/**
 * Elementwise |got − want| ≤ rel · scale, where scale is the output's largest
 * magnitude — floored at 1e-3 of the largest over all outputs, so that a
 * gradient that is analytically zero (a key bias under softmax) is compared
 * against the size of the others rather than against its own rounding noise.
 */
function assertSame(got: { shapes: number[][]; values: Float32Array[] }, want: { shapes: number[][]; values: Float32Array[] }, what: string, rel = 1e-5): void {
  assert.deepEqual(got.shapes, want.shapes, `${what}: shapes`);
  const maxAbs = (w: Float32Array) => w.reduce((m, x) => (Number.isFinite(x) ? Math.max(m, Math.abs(x)) : m), 0);
  const globalScale = Math.max(0, ...want.values.map(maxAbs));
  got.values.forEach((g, i) => {
    const w = want.values[i];
    const scale = Math.max(maxAbs(w), 1e-3 * globalScale);
    for (let j = 0; j < w.length; j++) {
      const bothNaN = Number.isNaN(g[j]) && Number.isNaN(w[j]);
      const ok = bothNaN || g[j] === w[j] || Math.abs(g[j] - w[j]) <= rel * Math.max(scale, 1e-30);
      if (!ok) assert.fail(`${what}: output ${i} element ${j}: ${g[j]} vs ${w[j]} (scale ${scale})`);
    }
  });
}

const OPS: { name: string; get(): CpuOps | null }[] = [
  { name: "native", get: () => loadNativeOps().ops },
  { name: "js", get: () => createJsOps() },
];

for (const impl of OPS) {
  describe(`core/native kernels: ${impl.name} vs stock tfjs`, () => {
    let ops: CpuOps;

    before(async function () {
      await useTestBackend();
      const got = impl.get();
      if (!got) {
        // CI sets POLYALIGN_REQUIRE_NATIVE=1 for the run that must use the addon.
        if (process.env.POLYALIGN_REQUIRE_NATIVE === "1") throw new Error(`native kernels required: ${loadNativeOps().detail}`);
        this.skip(); // addon not built, or POLYALIGN_NATIVE=0
      }
      ops = got;
    });
    after(async () => {
      await useTestBackend();
    });

    /** Compare `fn` computed with stock kernels and with ours. */
    function check(what: string, fn: () => Tensor | Tensor[], rel = 1e-5): void {
      uninstallKernels();
      const want = evaluate(fn);
      installKernels(ops);
      try {
        assertSame(evaluate(fn), want, what, rel);
      } finally {
        uninstallKernels();
      }
    }

    /** Compare gradients of sum(f(xs) * w) w.r.t. every x. */
    function checkGrads(what: string, f: (...xs: Tensor[]) => Tensor, inputs: () => Tensor[], rel = 1e-5): void {
      check(
        `${what} (value + grads)`,
        () => {
          const xs = inputs();
          const g = tf.grads((...a: Tensor[]) => {
            const y = f(...a);
            return tf.sum(tf.mul(y, randn(y.shape, 999)));
          });
          return [f(...xs), ...g(xs)];
        },
        rel,
      );
    }

    it("installs over the stock kernels and uninstalls back to them", () => {
      uninstallKernels();
      const stockAdd = tf.getKernel("Add", "cpu")!.kernelFunc;
      const installed = installKernels(ops);
      assert.ok(installed.names.includes("BatchMatMul") && installed.names.includes("Softmax"), installed.names.join());
      assert.notEqual(tf.getKernel("Add", "cpu")!.kernelFunc, stockAdd);
      assert.equal(activeKernels(), installed);
      uninstallKernels();
      assert.equal(tf.getKernel("Add", "cpu")!.kernelFunc, stockAdd);
      assert.equal(activeKernels(), null);
    });

    it("fused LayerNorm (a kernel of polyalign's own): value and the gradients of x, gamma and beta equal the composed ops'", () => {
      uninstallKernels();
      installKernels(ops);
      assert.ok(activeKernels()?.added.includes("PolyalignLayerNorm"), "the fused kernel is added");
      uninstallKernels();
      for (const [shape, eps, scale] of [
        [[2, 3, 16], 1e-12, 1],
        [[5, 64], 1e-6, 30],
        [[4, 1], 1e-5, 1],
        [[1, 7, 768], 1e-12, 0.02],
      ] as [number[], number, number][]) {
        const n = shape[shape.length - 1];
        checkGrads(
          `layerNorm ${shape} eps ${eps}`,
          (x, g, b) => layerNorm(x, g, b, eps),
          () => [tf.tidy(() => tf.add(randn(shape, 5, scale), 3 * scale)), randn([n], 6), randn([n], 7)],
          2e-5,
        );
      }
    });

    it("fused exact GELU: value and gradient equal the composed ops' (x·Φ(x) through erf)", () => {
      uninstallKernels();
      installKernels(ops);
      assert.ok(activeKernels()?.added.includes("PolyalignGelu"), "the fused kernel is added");
      uninstallKernels();
      for (const [shape, scale] of [
        [[3, 17], 1],
        [[2, 5, 64], 4],
        [[1000], 0.01],
      ] as [number[], number][]) {
        checkGrads(
          `gelu ${shape} ×${scale}`,
          (x) => gelu(x),
          () => [randn(shape, 11, scale)],
          2e-5,
        );
      }
    });

    it("matMul: 2-D, 3-D, 4-D with all four transpose combinations", () => {
      let seed = 1;
      for (const [m, k, n] of [
        [5, 7, 3],
        [1, 9, 4],
        [16, 33, 17],
      ]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            for (const batch of [[], [3], [2, 2]]) {
              const aShape = [...batch, ...(ta ? [k, m] : [m, k])];
              const bShape = [...batch, ...(tb ? [n, k] : [k, n])];
              seed += 2;
              const s0 = seed;
              checkGrads(
                `matMul ${aShape}x${bShape} ta=${ta} tb=${tb}`,
                (a, b) => tf.matMul(a, b, ta, tb),
                () => [randn(aShape, s0), randn(bShape, s0 + 1)],
              );
            }
          }
        }
      }
    });

    it("matMul: batch broadcasting one side, vectors and outer products (values)", () => {
      check("[4,3,5]x[1,5,2]", () => tf.matMul(randn([4, 3, 5], 1), randn([1, 5, 2], 2)));
      check("[1,3,5]x[4,5,2]", () => tf.matMul(randn([1, 3, 5], 3), randn([4, 5, 2], 4)));
      check("[2,4,3,5]x[4,5,2]", () => tf.matMul(randn([2, 4, 3, 5], 5), randn([4, 5, 2], 6)));
      check("[6,3,5]x[5,2] (rank 3 x rank 2)", () => tf.matMul(randn([6, 3, 5], 7), randn([5, 2], 8)));
      check("outer [4,1]x[1,6]", () => tf.matMul(randn([4, 1], 9), randn([1, 6], 10)));
      check("dot [1,8]x[8,1]", () => tf.matMul(randn([1, 8], 11), randn([8, 1], 12)));
    });

    it("matMul: both sides broadcast and K = 0, against a computed reference", () => {
      installKernels(ops);
      try {
        const a = randn([2, 1, 5, 6], 13);
        const b = randn([1, 3, 6, 7], 14);
        const got = tf.matMul(a, b);
        const ref = tf.matMul(tf.tile(a, [1, 3, 1, 1]), tf.tile(b, [2, 1, 1, 1]));
        assert.deepEqual(got.shape, [2, 3, 5, 7]);
        assertSame(
          evaluate(() => got),
          evaluate(() => ref),
          "both-sides broadcast",
        );
        const z = tf.matMul(tf.zeros([3, 4, 0]), tf.zeros([3, 0, 5]));
        assert.deepEqual(z.shape, [3, 4, 5]);
        assert.ok(
          z.dataSync().every((v) => v === 0),
          "K = 0 gives zeros",
        );
        tf.dispose([a, b, got, ref, z]);
      } finally {
        uninstallKernels();
      }
    });

    it("fused matMul: bias and every activation, with gradients for linear/relu", () => {
      const acts = ["linear", "relu", "sigmoid", "elu", "relu6", "leakyrelu", "prelu"] as const;
      for (const activation of acts) {
        for (const [ta, tb] of [
          [false, true],
          [true, false],
        ] as const) {
          check(`fused ${activation} ta=${ta} tb=${tb}`, () =>
            tf.fused.matMul({
              a: randn(ta ? [6, 4] : [4, 6], 21),
              b: randn(tb ? [5, 6] : [6, 5], 22),
              transposeA: ta,
              transposeB: tb,
              bias: randn([5], 23),
              activation,
              preluActivationWeights: activation === "prelu" ? randn([5], 24) : undefined,
              leakyreluAlpha: 0.1,
            }),
          );
        }
      }
      check("fused bias [1,5] broadcast", () => tf.fused.matMul({ a: randn([4, 6], 25), b: randn([6, 5], 26), bias: randn([1, 5], 27) }));
      for (const activation of ["linear", "relu"] as const) {
        checkGrads(
          `fused grads ${activation}`,
          (a, b, bias) => tf.fused.matMul({ a, b, bias, activation, transposeB: true }),
          () => [randn([7, 6], 28), randn([5, 6], 29), randn([5], 30)],
        );
      }
    });

    it("binary ops under every broadcast pattern, with gradients", () => {
      const patterns: [number[], number[]][] = [
        [
          [3, 4],
          [3, 4],
        ],
        [[3, 4], [4]],
        [
          [3, 1],
          [1, 4],
        ],
        [
          [2, 3, 4],
          [3, 1],
        ],
        [[], [2, 3]],
        [
          [2, 1, 4, 1],
          [1, 3, 1, 5],
        ],
        [
          [2, 3, 1, 2, 3],
          [3, 4, 1, 1],
        ],
        [[1], [5]],
      ];
      const ops2: [string, (a: Tensor, b: Tensor) => Tensor][] = [
        ["add", tf.add],
        ["sub", tf.sub],
        ["mul", tf.mul],
        ["div", tf.div],
        ["maximum", tf.maximum],
        ["minimum", tf.minimum],
        ["squaredDifference", tf.squaredDifference],
      ];
      let seed = 40;
      for (const [name, f] of ops2) {
        for (const [sa, sb] of patterns) {
          const mk = name === "div" ? positive : randn;
          seed += 2;
          const s0 = seed;
          const inputs = () => [randn(sa, s0), mk(sb, s0 + 1)];
          // tfjs's own Maximum/Minimum/SquaredDifference gradients do not reduce broadcast dims: values only there.
          if (["maximum", "minimum", "squaredDifference"].includes(name) && sa.join() !== sb.join())
            check(`${name} [${sa}] ∘ [${sb}]`, () => f(...(inputs() as [Tensor, Tensor])));
          else checkGrads(`${name} [${sa}] ∘ [${sb}]`, f, inputs);
        }
      }
    });

    it("unary ops, with gradients", () => {
      const cases: [string, (x: Tensor) => Tensor, boolean][] = [
        ["exp", tf.exp, false],
        ["erf", tf.erf, false],
        ["tanh", tf.tanh, false],
        ["neg", tf.neg, false],
        ["square", tf.square, false],
        ["rsqrt", tf.rsqrt, true],
        ["sqrt", tf.sqrt, true],
        ["log", tf.log, true],
        ["sigmoid", tf.sigmoid, false],
        ["relu", tf.relu, false],
        ["abs", tf.abs, false],
        ["reciprocal", tf.reciprocal, true],
        ["floor", tf.floor, false],
      ];
      let seed = 100;
      for (const [name, f, pos] of cases) {
        // erf: tfjs's stock kernel uses a 1.5e-7-accurate approximation; the native one uses libm.
        const s0 = seed++;
        checkGrads(name, f, () => [(pos ? positive : randn)([3, 5, 7], s0)], name === "erf" ? 5e-6 : 1e-5);
      }
    });

    it("transpose of rank 2–6 with size-1 dims, with gradients", () => {
      const cases: [number[], number[]][] = [
        [
          [3, 4],
          [1, 0],
        ],
        [
          [2, 3, 4],
          [0, 2, 1],
        ],
        [
          [2, 3, 4],
          [2, 0, 1],
        ],
        [
          [2, 3, 4, 5],
          [0, 2, 1, 3],
        ],
        [
          [2, 1, 4, 5],
          [3, 1, 0, 2],
        ],
        [
          [2, 3, 1, 4, 5],
          [4, 0, 2, 1, 3],
        ],
        [
          [2, 2, 3, 2, 3, 2],
          [0, 2, 4, 1, 3, 5],
        ],
        [
          [3, 1, 4],
          [1, 0, 2],
        ],
      ];
      let seed = 200;
      for (const [shape, perm] of cases) {
        const s0 = seed++;
        checkGrads(
          `transpose [${shape}] perm [${perm}]`,
          (x) => tf.transpose(x, perm),
          () => [randn(shape, s0)],
        );
      }
    });

    it("sum, mean, max, min, prod over any axes (keepDims too), with gradients", () => {
      const axesCases: (number | number[] | undefined)[] = [undefined, 0, 1, -1, [0, 2], [1, 2], [0, 1, 3], [3, 1]];
      let seed = 300;
      for (const axis of axesCases) {
        for (const keepDims of [false, true]) {
          seed += 5;
          const s0 = seed;
          const tag = `${JSON.stringify(axis)} keep=${keepDims}`;
          checkGrads(
            `sum ${tag}`,
            (x) => tf.sum(x, axis, keepDims),
            () => [randn([2, 3, 4, 5], s0)],
          );
          checkGrads(
            `mean ${tag}`,
            (x) => tf.mean(x, axis, keepDims),
            () => [randn([2, 3, 4, 5], s0 + 1)],
          );
          checkGrads(
            `max ${tag}`,
            (x) => tf.max(x, axis, keepDims),
            () => [randn([2, 3, 4, 5], s0 + 2)],
          );
          check(`min ${tag}`, () => tf.min(randn([2, 3, 4, 5], s0 + 3), axis, keepDims));
          check(`prod ${tag}`, () => tf.prod(randn([2, 3, 4, 5], s0 + 4, 0.5), axis, keepDims));
        }
      }
      check("sum with size-1 dims", () => tf.sum(randn([1, 3, 1, 4], 398), [0, 1]));
      check("sum of an empty axis", () => tf.sum(tf.zeros([3, 0, 2]), 1));
    });

    it("softmax and logSoftmax over the last axis, with gradients", () => {
      let seed = 400;
      for (const shape of [[7], [3, 5], [2, 3, 6], [2, 2, 3, 9]]) {
        seed += 2;
        const s0 = seed;
        checkGrads(
          `softmax [${shape}]`,
          (x) => tf.softmax(x),
          () => [randn(shape, s0, 3)],
        );
        checkGrads(
          `logSoftmax [${shape}]`,
          (x) => tf.logSoftmax(x),
          () => [randn(shape, s0 + 1, 3)],
        );
      }
      check("pow with a scalar exponent", () => tf.pow(positive([3, 4], 498), tf.scalar(2.5)));
      check("norm (pow inside)", () => tf.norm(randn([3, 4], 497), "euclidean", -1, true));
      check("softmax with -1e4 masked logits", () => tf.softmax(tf.add(randn([2, 5], 499), tf.tensor1d([0, 0, -10000, 0, -10000]))));
    });

    it("slice, split and concat of float32, int32 and bool, with gradients", () => {
      let seed = 600;
      const cases: [number[], number[], number[]][] = [
        [
          [5, 6],
          [1, 2],
          [3, 4],
        ],
        [
          [4, 5, 6],
          [0, 1, 0],
          [4, 3, 6],
        ],
        [
          [4, 5, 6],
          [1, 0, 2],
          [2, 5, 3],
        ],
        [
          [2, 3, 4, 5],
          [1, 1, 1, 1],
          [1, 2, 3, 4],
        ],
        [[6], [2], [3]],
        [
          [3, 4],
          [0, 0],
          [3, 4],
        ],
      ];
      for (const [shape, begin, size] of cases) {
        const s0 = seed++;
        checkGrads(
          `slice [${shape}] at [${begin}] size [${size}]`,
          (x) => tf.slice(x, begin, size),
          () => [randn(shape, s0)],
        );
      }
      check("slice int32", () => tf.slice(tf.range(0, 24, 1, "int32").reshape([2, 3, 4]), [0, 1, 1], [2, 2, 2]));
      check("slice bool", () => tf.slice(tf.greater(randn([3, 4], 650), 0), [1, 1], [2, 2]));
      for (const axis of [0, 1, 2, -1]) {
        seed += 3;
        const s0 = seed;
        checkGrads(
          `split axis ${axis}`,
          (x) => tf.concat(tf.split(x, [1, 2, 3], axis), axis),
          () => [randn([6, 6, 6], s0)],
        );
        checkGrads(
          `concat axis ${axis}`,
          (a, b, c) => tf.concat([a, b, c], axis),
          () => {
            const shape = (n: number) => [2, 3, 4].map((d, i) => (i === (axis < 0 ? 2 : axis) ? n : d));
            return [randn(shape(1), s0), randn(shape(2), s0 + 1), randn(shape(3), s0 + 2)];
          },
        );
      }
      check("split int32 in 3", () => tf.split(tf.range(0, 12, 1, "int32").reshape([3, 4]), 2, 1));
      check("concat int32", () => tf.concat([tf.tensor1d([1, 2], "int32"), tf.tensor1d([3], "int32")]));
    });

    it("pad with zeros or a constant, any dims padded (inner, outer, none), float32 and int32, with gradients", () => {
      let seed = 700;
      const cases: [number[], [number, number][]][] = [
        [
          [2, 3, 4, 5],
          [
            [0, 0],
            [0, 0],
            [1, 1],
            [1, 1],
          ],
        ],
        [
          [3, 4],
          [
            [2, 0],
            [0, 0],
          ],
        ],
        [
          [2, 3, 4],
          [
            [0, 1],
            [1, 0],
            [0, 2],
          ],
        ],
        [[5], [[1, 3]]],
        [
          [2, 2],
          [
            [0, 0],
            [0, 0],
          ],
        ],
      ];
      for (const [shape, paddings] of cases) {
        const s0 = seed++;
        checkGrads(
          `pad [${shape}] by ${JSON.stringify(paddings)}`,
          (x) => tf.pad(x, paddings),
          () => [randn(shape, s0)],
        );
        check(`pad [${shape}] with 2.5`, () => tf.pad(randn(shape, s0), paddings, 2.5));
      }
      check("pad int32", () =>
        tf.pad(tf.range(0, 12, 1, "int32").reshape([3, 4]), [
          [1, 0],
          [0, 2],
        ]),
      );
    });

    it("gather (embedding lookup) and its gradient, unsortedSegmentSum", () => {
      const ids = () =>
        tf.tensor2d(
          [
            [3, 0, 7],
            [7, 7, 1],
          ],
          [2, 3],
          "int32",
        );
      checkGrads(
        "gather axis 0 [10,6] by [2,3] ids",
        (w) => tf.gather(w, ids()),
        () => [randn([10, 6], 700)],
      );
      checkGrads(
        "gather axis 1 [4,10,3]",
        (w) => tf.gather(w, tf.tensor1d([9, 0, 9, 2], "int32"), 1),
        () => [randn([4, 10, 3], 701)],
      );
      check("gather int32 rows", () => tf.gather(tf.range(0, 12, 1, "int32").reshape([4, 3]), tf.tensor1d([3, 1], "int32")));
      check("unsortedSegmentSum with repeats and an out-of-range id", () =>
        tf.unsortedSegmentSum(randn([6, 4], 702), tf.tensor1d([2, 0, 2, 5, 1, 2], "int32"), 5),
      );
      installKernels(ops);
      try {
        assert.throws(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([3], "int32")), /GatherV2: the index value 3 is not in \[0, 2\]/);
      } finally {
        uninstallKernels();
      }
    });

    it("topk: values and indices, ties toward the lower index, k = n and k = 1", () => {
      check("topk [3,7] k=3", () => {
        const r = tf.topk(randn([3, 7], 800), 3);
        return [r.values, r.indices];
      });
      check("topk [2,2,9] k=9", () => {
        const r = tf.topk(randn([2, 2, 9], 801), 9);
        return [r.values, r.indices];
      });
      check("topk k=1", () => {
        const r = tf.topk(randn([5, 4], 802), 1);
        return [r.values, r.indices];
      });
      check("topk ties", () => {
        const r = tf.topk(tf.tensor2d([[1, 3, 3, 2, 3, 0]]), 4);
        return [r.values, r.indices];
      });
    });

    it("int32 and bool inputs go to the stock kernels", () => {
      check("int32 add", () => tf.add(tf.tensor1d([1, 2, 3], "int32"), tf.tensor1d([4, 5, 6], "int32")));
      check("int32 sum", () =>
        tf.sum(
          tf.tensor2d(
            [
              [1, 2],
              [3, 4],
            ],
            [2, 2],
            "int32",
          ),
          0,
        ),
      );
      check("int32 transpose", () =>
        tf.transpose(
          tf.tensor2d(
            [
              [1, 2, 3],
              [4, 5, 6],
            ],
            [2, 3],
            "int32",
          ),
        ),
      );
      check("int32 max", () => tf.max(tf.tensor1d([3, 9, 2], "int32")));
    });

    it("a whole BERT layer (self + cross attention, FFN): every gradient matches", () => {
      const layer = new BertLayer({ width: 32, heads: 4, intermediate: 64, eps: 1e-12, dropout: 0, crossAttention: true, encoderWidth: 24 }, new Rng(5));
      const vars = [...layer.namedParameters()];
      check("bert layer grads", () => {
        const x = randn([2, 6, 32], 501);
        const img = randn([2, 5, 24], 502);
        const mask = additiveMask(
          tf.tensor2d(
            [
              [1, 1, 1, 1, 1, 1],
              [1, 1, 1, 0, 0, 0],
            ],
            [2, 6],
            "int32",
          ),
        );
        const w = randn([2, 6, 32], 503);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(layer.forward(x, mask, img), w)) as tf.Scalar,
          vars.map(([, v]) => v),
        );
        return [value, ...vars.map(([, v]) => grads[v.name])];
      });
      layer.dispose();
    });
  });
}
