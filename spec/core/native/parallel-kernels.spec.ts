/**
 * The native kernels split over the pool's threads give the same bits as on
 * one thread: every output element is computed by one thread in the serial
 * order. The threshold is set to 0 so that small, awkward shapes (chunks that
 * end mid-row, more threads than rows) take the parallel path.
 */
import assert from "node:assert/strict";
import { BinaryOp, type CpuOps, loadNativeOps, ReduceOp, Rng, UnaryOp } from "../../../core/index.ts";

function random(n: number, seed: number, positive = false): Float32Array {
  const r = new Rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = positive ? Math.abs(r.normal()) + 0.1 : r.normal() * 3;
  return v;
}

const i32 = (xs: number[]) => Int32Array.from(xs);

/** Each case fills fresh outputs and returns them; a third entry is a relative tolerance where bits may differ. */
type Case = [string, (ops: CpuOps) => Float32Array[], number?];

const CASES: Case[] = [
  ...Object.entries(BinaryOp).map(
    ([name, op]): Case => [
      `binary ${name}, broadcast [3,1,7] × [1,5,7] and a scalar`,
      (ops) => {
        const a = random(21, 1, op === BinaryOp.pow);
        const b = random(35, 2);
        const s = random(1, 3);
        const out1 = new Float32Array(105);
        const out2 = new Float32Array(105);
        ops.binary(op, a, b, out1, i32([3, 5, 7]), i32([7, 0, 1]), i32([0, 7, 1]));
        ops.binary(op, a, s, out2.subarray(0, 21), i32([21]), i32([1]), i32([0]));
        return [out1, out2];
      },
    ],
  ),
  ...Object.entries(UnaryOp).map(
    ([name, op]): Case => [
      `unary ${name}`,
      (ops) => {
        const x = random(1001, 4, op === UnaryOp.log || op === UnaryOp.sqrt || op === UnaryOp.rsqrt);
        const out = new Float32Array(1001);
        ops.unary(op, x, out);
        return [out];
      },
    ],
  ),
  [
    "transpose [3,5,7] by (2,0,1) and [2,3,4,5] by (3,1,0,2)",
    (ops) => {
      const x = random(120, 5);
      const a = new Float32Array(105);
      const b = new Float32Array(120);
      ops.transpose(x.subarray(0, 105), a, i32([3, 5, 7]), i32([2, 0, 1]));
      ops.transpose(x, b, i32([2, 3, 4, 5]), i32([3, 1, 0, 2]));
      return [a, b];
    },
  ],
  ...Object.entries(ReduceOp).map(
    ([name, op]): Case => [
      `reduce ${name} over rows and over the middle axis`,
      (ops) => {
        const x = random(3 * 13 * 7, 6);
        const rows = new Float32Array(21);
        const cols = new Float32Array(21);
        ops.reduceRows(op, x, rows, 21, 13);
        ops.reduceCols(op, x, cols, 3, 13, 7);
        return [rows, cols];
      },
    ],
  ),
  [
    "softmax, its gradient, addBias",
    (ops) => {
      const x = random(5 * 11, 7);
      const y = new Float32Array(55);
      ops.softmax(x, y, 5, 11);
      const dx = new Float32Array(55);
      ops.softmaxGrad(random(55, 8), y, dx, 5, 11);
      const z = random(55, 9);
      ops.addBias(z, random(11, 10));
      return [y, dx, z];
    },
  ],
  [
    "GELU and its gradient",
    (ops) => {
      const x = random(999, 11);
      const y = new Float32Array(999);
      const dx = new Float32Array(999);
      ops.gelu(x, y);
      ops.geluGrad(random(999, 12), x, dx);
      return [y, dx];
    },
  ],
  [
    "LayerNorm and its gradient (dgamma and dbeta summed over rows)",
    (ops) => {
      const rows = 9;
      const n = 13;
      const x = random(rows * n, 13);
      const gamma = random(n, 14);
      const beta = random(n, 15);
      const out = new Float32Array(rows * n);
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      ops.layerNorm(x, gamma, beta, out, mean, rstd, rows, n, 1e-12);
      const dx = new Float32Array(rows * n);
      const dgamma = new Float32Array(n);
      const dbeta = new Float32Array(n);
      ops.layerNormGrad(random(rows * n, 16), x, gamma, mean, rstd, dx, dgamma, dbeta, rows, n);
      return [out, mean, rstd, dx, dgamma, dbeta];
    },
  ],
  [
    "AdamW",
    (ops) => {
      const n = 1003;
      const outs = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      const coeffs = Float32Array.from([0.999, 0.9, 0.1, 0.999, 0.001, 0.03, 1e-8, 1e-3]);
      ops.adamw(random(n, 17), random(n, 18), random(n, 19, true), random(n, 20), outs[0], outs[1], outs[2], coeffs);
      return outs;
    },
  ],
  [
    "one matrix product cut into row blocks, plain and with op(A) transposed",
    (ops) => {
      const [m, n, k] = [37, 29, 23];
      const a = random(m * k, 23);
      const b = random(k * n, 24);
      const plain = new Float32Array(m * n);
      const transposed = new Float32Array(m * n);
      ops.gemmBatched(a, b, plain, new Int32Array(1), new Int32Array(1), m, n, k, false, false);
      ops.gemmBatched(a, b, transposed, new Int32Array(1), new Int32Array(1), m, n, k, true, true);
      return [plain, transposed];
    },
    // OpenBLAS takes other kernel paths for a block's edge rows than for the whole: equal to rounding, not to the bit
    1e-6,
  ],
  [
    "a batch of small matrix products, one per thread",
    (ops) => {
      const [m, n, k, batch] = [7, 5, 3, 9];
      const a = random(batch * m * k, 21);
      const b = random(k * n, 22);
      const out = new Float32Array(batch * m * n);
      const aOff = Int32Array.from({ length: batch }, (_, i) => i * m * k);
      ops.gemmBatched(a, b, out, aOff, new Int32Array(batch), m, n, k, false, false);
      return [out];
    },
  ],
];

describe("core/native: kernels split over threads equal one thread bit for bit", () => {
  let ops: CpuOps;
  let previous = 0;
  let previousGemm = 0;
  let threadsBefore = 1;

  before(function () {
    const got = loadNativeOps().ops;
    if (!got?.setParallelMinWork || !got.setGemmMinMacs) {
      if (process.env.POLYALIGN_REQUIRE_NATIVE === "1") throw new Error(`native kernels required: ${loadNativeOps().detail}`);
      this.skip(); // no addon, or one built before the pool
    }
    ops = got;
    threadsBefore = ops.getThreads();
    previous = ops.setParallelMinWork?.(0) ?? 0;
    previousGemm = ops.setGemmMinMacs?.(0) ?? 0;
  });
  after(() => {
    if (!ops) return;
    ops.setParallelMinWork?.(previous);
    ops.setGemmMinMacs?.(previousGemm);
    ops.setThreads(threadsBefore);
  });

  for (const [what, run, tolerance] of CASES) {
    it(what, () => {
      ops.setThreads(1);
      const serial = run(ops);
      for (const threads of [2, 3]) {
        ops.setThreads(threads);
        const parallel = run(ops);
        serial.forEach((want, i) => {
          const got = parallel[i];
          const scale = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
          for (let j = 0; j < want.length; j++) {
            const same = tolerance === undefined ? Object.is(got[j], want[j]) : Math.abs(got[j] - want[j]) <= tolerance * scale;
            if (!same) assert.fail(`${what}, ${threads} threads: output ${i} element ${j}: ${got[j]} vs ${want[j]}`);
          }
        });
      }
    });
  }

  it("the thresholds refuse a negative value", () => {
    assert.throws(() => ops.setParallelMinWork?.(-1), /work must be a number >= 0/);
    assert.throws(() => ops.setGemmMinMacs?.(-1), /macs must be a number >= 0/);
  });
});
