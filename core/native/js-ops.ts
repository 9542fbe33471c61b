/**
 * The pure-JS implementation of CpuOps: what polyalign runs when the native
 * addon cannot be built. Strided loops with no per-element allocation (the
 * stock cpu kernels allocate index arrays per element on broadcasts) and a
 * register-blocked gemm.
 */
import { BinaryOp, type CpuOps, ReduceOp, UnaryOp } from "./ops.ts";

// Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the form tfjs's cpu Erf uses.
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return sign * y;
}

interface GemmScratch {
  a: Float32Array;
  b: Float32Array;
}

function grow(buf: Float32Array, n: number): Float32Array {
  return buf.length >= n ? buf : new Float32Array(n);
}

/**
 * One product C = op(A)·op(B). Both operands are brought to "rows along k"
 * form (A as [m, k], B as Bᵀ [n, k]) so that a 4×4 block of C accumulates in
 * sixteen locals from eight loads per step of k.
 */
function gemmOne(
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  out: Float32Array,
  oOff: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  scratch: GemmScratch,
): void {
  let A = a;
  let aBase = aOff;
  if (transA) {
    scratch.a = grow(scratch.a, m * k);
    A = scratch.a;
    aBase = 0;
    for (let p = 0; p < k; p++) for (let i = 0; i < m; i++) A[i * k + p] = a[aOff + p * m + i];
  }
  let B = b;
  let bBase = bOff;
  if (!transB) {
    scratch.b = grow(scratch.b, n * k);
    B = scratch.b;
    bBase = 0;
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) B[j * k + p] = b[bOff + p * n + j];
  }
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aBase + i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n4; j += 4) {
      const b0 = bBase + j * k;
      const b1 = b0 + k;
      const b2 = b1 + k;
      const b3 = b2 + k;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = A[a0 + p],
          x1 = A[a1 + p],
          x2 = A[a2 + p],
          x3 = A[a3 + p];
        const y0 = B[b0 + p],
          y1 = B[b1 + p],
          y2 = B[b2 + p],
          y3 = B[b3 + p];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      let o = oOff + i * n + j;
      out[o] = c00;
      out[o + 1] = c01;
      out[o + 2] = c02;
      out[o + 3] = c03;
      o += n;
      out[o] = c10;
      out[o + 1] = c11;
      out[o + 2] = c12;
      out[o + 3] = c13;
      o += n;
      out[o] = c20;
      out[o + 1] = c21;
      out[o + 2] = c22;
      out[o + 3] = c23;
      o += n;
      out[o] = c30;
      out[o + 1] = c31;
      out[o + 2] = c32;
      out[o + 3] = c33;
    }
  }
  // Edges: the rows below m4 (all columns) and the columns right of n4 (top rows).
  const dot = (i: number, j: number) => {
    const ar = aBase + i * k;
    const br = bBase + j * k;
    let s = 0;
    for (let p = 0; p < k; p++) s += A[ar + p] * B[br + p];
    out[oOff + i * n + j] = s;
  };
  for (let i = 0; i < m4; i++) for (let j = n4; j < n; j++) dot(i, j);
  for (let i = m4; i < m; i++) for (let j = 0; j < n; j++) dot(i, j);
}

type Bin = (x: number, y: number) => number;
const BINARY: Record<BinaryOp, Bin> = {
  [BinaryOp.add]: (x, y) => x + y,
  [BinaryOp.sub]: (x, y) => x - y,
  [BinaryOp.mul]: (x, y) => x * y,
  [BinaryOp.div]: (x, y) => x / y,
  // not Math.max/min: those differ from tfjs on signed zeros
  // biome-ignore lint/complexity/useMathMinMax: tfjs semantics (NaN wins, the second operand on ties)
  [BinaryOp.max]: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x > y ? x : y),
  // biome-ignore lint/complexity/useMathMinMax: tfjs semantics (NaN wins, the second operand on ties)
  [BinaryOp.min]: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x < y ? x : y),
  [BinaryOp.sqdiff]: (x, y) => (x - y) * (x - y),
  [BinaryOp.pow]: (x, y) => x ** y,
};

const UNARY: Record<UnaryOp, (x: number) => number> = {
  [UnaryOp.exp]: Math.exp,
  [UnaryOp.erf]: erf,
  [UnaryOp.tanh]: Math.tanh,
  [UnaryOp.neg]: (x) => -x,
  [UnaryOp.square]: (x) => x * x,
  [UnaryOp.rsqrt]: (x) => 1 / Math.sqrt(x),
  [UnaryOp.sqrt]: Math.sqrt,
  [UnaryOp.log]: Math.log,
  [UnaryOp.sigmoid]: (x) => 1 / (1 + Math.exp(-x)),
  [UnaryOp.relu]: (x) => (x > 0 || Number.isNaN(x) ? x : 0),
  [UnaryOp.abs]: Math.abs,
  [UnaryOp.reciprocal]: (x) => 1 / x,
  [UnaryOp.floor]: Math.floor,
};

function binaryInner(
  op: BinaryOp,
  a: Float32Array,
  ao: number,
  sa: number,
  b: Float32Array,
  bo: number,
  sb: number,
  out: Float32Array,
  oo: number,
  n: number,
): void {
  // The common cases get monomorphic loops; the rest go through the table.
  if (op === BinaryOp.add && sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] + b[bo + i];
  else if (op === BinaryOp.add && sa === 1 && sb === 0) {
    const y = b[bo];
    for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] + y;
  } else if (op === BinaryOp.mul && sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] * b[bo + i];
  else if (op === BinaryOp.mul && sa === 1 && sb === 0) {
    const y = b[bo];
    for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] * y;
  } else if (op === BinaryOp.mul && sa === 0 && sb === 1) {
    const x = a[ao];
    for (let i = 0; i < n; i++) out[oo + i] = x * b[bo + i];
  } else if (op === BinaryOp.sub && sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] - b[bo + i];
  else if (op === BinaryOp.sub && sa === 1 && sb === 0) {
    const y = b[bo];
    for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] - y;
  } else {
    const f = BINARY[op];
    for (let i = 0; i < n; i++) out[oo + i] = f(a[ao + i * sa], b[bo + i * sb]);
  }
}

export function createJsOps(): CpuOps {
  const scratch: GemmScratch = { a: new Float32Array(0), b: new Float32Array(0) };
  return {
    name: "js",
    gemmBatched(a, b, out, aOffsets, bOffsets, m, n, k, transA, transB) {
      for (let i = 0; i < aOffsets.length; i++) {
        if (k === 0) out.fill(0, i * m * n, (i + 1) * m * n);
        else gemmOne(a, aOffsets[i], b, bOffsets[i], out, i * m * n, m, n, k, transA, transB, scratch);
      }
    },
    binary(op, a, b, out, shape, aStrides, bStrides) {
      const r = shape.length;
      const total = out.length;
      if (total === 0) return;
      const inner = shape[r - 1];
      const outer = total / inner;
      const idx = new Int32Array(r);
      let offA = 0;
      let offB = 0;
      for (let it = 0; it < outer; it++) {
        binaryInner(op, a, offA, aStrides[r - 1], b, offB, bStrides[r - 1], out, it * inner, inner);
        for (let d = r - 2; d >= 0; d--) {
          idx[d]++;
          offA += aStrides[d];
          offB += bStrides[d];
          if (idx[d] < shape[d]) break;
          offA -= aStrides[d] * shape[d];
          offB -= bStrides[d] * shape[d];
          idx[d] = 0;
        }
      }
    },
    unary(op, x, out) {
      const f = UNARY[op];
      for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
    },
    transpose(x, out, shape, perm) {
      const r = shape.length;
      const inStrides = new Array<number>(r);
      let s = 1;
      for (let d = r - 1; d >= 0; d--) {
        inStrides[d] = s;
        s *= shape[d];
      }
      if (x.length === 0) return;
      const oshape = Array.from(perm, (p) => shape[p]);
      const ostr = Array.from(perm, (p) => inStrides[p]);
      const inner = oshape[r - 1];
      const is = ostr[r - 1];
      const outer = x.length / inner;
      const idx = new Int32Array(r);
      let off = 0;
      for (let it = 0; it < outer; it++) {
        const base = it * inner;
        for (let i = 0; i < inner; i++) out[base + i] = x[off + i * is];
        for (let d = r - 2; d >= 0; d--) {
          idx[d]++;
          off += ostr[d];
          if (idx[d] < oshape[d]) break;
          off -= ostr[d] * oshape[d];
          idx[d] = 0;
        }
      }
    },
    reduceRows(op, x, out, outer, n) {
      for (let i = 0; i < outer; i++) {
        const base = i * n;
        if (op === ReduceOp.sum) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += x[base + j];
          out[i] = acc;
        } else if (op === ReduceOp.prod) {
          let acc = 1;
          for (let j = 0; j < n; j++) acc *= x[base + j];
          out[i] = acc;
        } else {
          const isMax = op === ReduceOp.max;
          let m = n > 0 ? x[base] : isMax ? -Infinity : Infinity;
          for (let j = 1; j < n; j++) {
            const v = x[base + j];
            if (Number.isNaN(v) || (isMax ? v > m : v < m)) m = v;
          }
          out[i] = m;
        }
      }
    },
    reduceCols(op, x, out, outer, n, inner) {
      for (let q = 0; q < outer; q++) {
        const ob = q * inner;
        const xb = q * n * inner;
        if (n === 0) {
          out.fill(op === ReduceOp.sum ? 0 : op === ReduceOp.prod ? 1 : op === ReduceOp.max ? -Infinity : Infinity, ob, ob + inner);
          continue;
        }
        for (let i = 0; i < inner; i++) out[ob + i] = x[xb + i];
        for (let j = 1; j < n; j++) {
          const rb = xb + j * inner;
          if (op === ReduceOp.sum) for (let i = 0; i < inner; i++) out[ob + i] += x[rb + i];
          else if (op === ReduceOp.prod) for (let i = 0; i < inner; i++) out[ob + i] *= x[rb + i];
          else if (op === ReduceOp.max) {
            for (let i = 0; i < inner; i++) {
              const v = x[rb + i];
              if (v > out[ob + i] || Number.isNaN(v)) out[ob + i] = v;
            }
          } else {
            for (let i = 0; i < inner; i++) {
              const v = x[rb + i];
              if (v < out[ob + i] || Number.isNaN(v)) out[ob + i] = v;
            }
          }
        }
      }
    },
    softmax(x, out, rows, n) {
      for (let r = 0; r < rows; r++) {
        const base = r * n;
        let m = -Infinity;
        for (let j = 0; j < n; j++) if (x[base + j] > m) m = x[base + j];
        let s = 0;
        for (let j = 0; j < n; j++) {
          const e = Math.exp(x[base + j] - m);
          out[base + j] = e;
          s += e;
        }
        const inv = 1 / s;
        for (let j = 0; j < n; j++) out[base + j] *= inv;
      }
    },
    addBias(x, bias) {
      const n = bias.length;
      for (let r = 0; r < x.length; r += n) for (let j = 0; j < n; j++) x[r + j] += bias[j];
    },
    layerNorm(x, gamma, beta, out, mean, rstd, rows, n, eps) {
      for (let r = 0; r < rows; r++) {
        const o = r * n;
        let sum = 0;
        for (let j = 0; j < n; j++) sum += x[o + j];
        const mu = sum / n;
        let sq = 0;
        for (let j = 0; j < n; j++) {
          const d = x[o + j] - mu;
          sq += d * d;
        }
        const rs = 1 / Math.sqrt(sq / n + eps);
        for (let j = 0; j < n; j++) out[o + j] = (x[o + j] - mu) * rs * gamma[j] + beta[j];
        mean[r] = mu;
        rstd[r] = rs;
      }
    },
    layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, n) {
      const dg = new Float64Array(n);
      const db = new Float64Array(n);
      for (let r = 0; r < rows; r++) {
        const o = r * n;
        const mu = mean[r];
        const rs = rstd[r];
        let s1 = 0;
        let s2 = 0;
        for (let j = 0; j < n; j++) {
          const xhat = (x[o + j] - mu) * rs;
          const g = dy[o + j] * gamma[j];
          s1 += g;
          s2 += g * xhat;
          dg[j] += dy[o + j] * xhat;
          db[j] += dy[o + j];
        }
        const m1 = s1 / n;
        const m2 = s2 / n;
        for (let j = 0; j < n; j++) {
          const xhat = (x[o + j] - mu) * rs;
          dx[o + j] = rs * (dy[o + j] * gamma[j] - m1 - xhat * m2);
        }
      }
      dgamma.set(dg);
      dbeta.set(db);
    },
    softmaxGrad(dy, y, dx, rows, n) {
      for (let r = 0; r < rows; r++) {
        const o = r * n;
        let s = 0;
        for (let j = 0; j < n; j++) s += dy[o + j] * y[o + j];
        for (let j = 0; j < n; j++) dx[o + j] = y[o + j] * (dy[o + j] - s);
      }
    },
    gelu(x, out) {
      for (let i = 0; i < x.length; i++) out[i] = 0.5 * x[i] * (1 + erf(x[i] * Math.SQRT1_2));
    },
    geluGrad(dy, x, dx) {
      const c = 1 / Math.sqrt(2 * Math.PI);
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        dx[i] = dy[i] * (0.5 * (1 + erf(v * Math.SQRT1_2)) + v * c * Math.exp(-0.5 * v * v));
      }
    },
    adamw(p, m, v, g, pOut, mOut, vOut, coeffs) {
      const f = Math.fround;
      const [decay, b1, omb1, b2, omb2, sqrtBc2, eps, step] = coeffs;
      for (let i = 0; i < p.length; i++) {
        const pd = f(p[i] * decay);
        const mi = f(f(m[i] * b1) + f(g[i] * omb1));
        const vi = f(f(v[i] * b2) + f(f(g[i] * g[i]) * omb2));
        const denom = f(f(f(Math.sqrt(vi)) / sqrtBc2) + eps);
        mOut[i] = mi;
        vOut[i] = vi;
        pOut[i] = f(pd - f(f(mi / denom) * step));
      }
    },
    setThreads() {
      /* single-threaded */
    },
    getThreads() {
      return 1;
    },
  };
}
