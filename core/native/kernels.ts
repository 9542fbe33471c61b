/**
 * tfjs `cpu` backend kernels built on CpuOps. Each replaces the stock kernel
 * of the same name for float32 inputs and hands every other case to the
 * stock kernel it replaced. Composite stock kernels (Softmax, Mean,
 * _FusedMatMul) call their parts directly, so each is replaced by name.
 */
import { tf } from "../tensor/tf.ts";
import { BinaryOp, type CpuOps, ReduceOp, UnaryOp } from "./ops.ts";
import { broadcastStrides, collapseStrided, collapseTranspose, sizeOf } from "./shapes.ts";

type TensorInfo = tf.TensorInfo;
type KernelFunc = tf.KernelFunc;

export interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): TensorInfo;
  disposeIntermediateTensorInfo(t: TensorInfo): void;
  incRef(dataId: object): void;
}

export interface KernelContext {
  ops: CpuOps;
  /** the stock kernel this one replaces (and falls back to) */
  stock(name: string): KernelFunc;
}

type Args = Parameters<KernelFunc>[0];

export function values(backend: CpuBackendLike, t: TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  // A float32 tensor can share an Int32Array with the int32 tensor it was cast from.
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

function allFloat(...ts: (TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t === undefined || t.dtype === "float32");
}

// ---- matmul ------------------------------------------------------------------

function batchOffsets(aShape: number[], bShape: number[], aMat: number, bMat: number): { out: number[]; a: Int32Array; b: Int32Array } {
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(aBatch, bBatch);
  const n = sizeOf(outBatch);
  const aStr = broadcastStrides(aBatch, outBatch);
  const bStr = broadcastStrides(bBatch, outBatch);
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  const idx = new Array<number>(outBatch.length).fill(0);
  for (let i = 0; i < n; i++) {
    let ao = 0;
    let bo = 0;
    for (let d = 0; d < outBatch.length; d++) {
      ao += idx[d] * aStr[d];
      bo += idx[d] * bStr[d];
    }
    a[i] = ao * aMat;
    b[i] = bo * bMat;
    for (let d = outBatch.length - 1; d >= 0; d--) {
      if (++idx[d] < outBatch[d]) break;
      idx[d] = 0;
    }
  }
  return { out: outBatch, a, b };
}

function matMul(ctx: KernelContext, backend: CpuBackendLike, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const off = batchOffsets(a.shape, b.shape, m * k, k * n);
  const out = new Float32Array(off.a.length * m * n);
  ctx.ops.gemmBatched(values(backend, a), values(backend, b), out, off.a, off.b, m, n, k, transposeA, transposeB);
  return backend.makeTensorInfo([...off.out, m, n], "float32", out);
}

function batchMatMulKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (!allFloat(a, b) || a.shape.length < 2 || b.shape.length < 2) return ctx.stock(tf.BatchMatMul)(args);
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    return matMul(ctx, args.backend as CpuBackendLike, a, b, transposeA, transposeB);
  };
}

function fusedMatMulKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string; leakyreluAlpha?: number };
    if (!a || !b || !allFloat(a, b, bias) || a.shape.length < 2 || b.shape.length < 2) return ctx.stock(tf._FusedMatMul)(args);
    const backend = args.backend as CpuBackendLike;
    let out = matMul(ctx, backend, a, b, attrs.transposeA, attrs.transposeB);
    if (bias) {
      const n = out.shape[out.shape.length - 1];
      if (bias.shape.length === 1 && bias.shape[0] === n) {
        ctx.ops.addBias(values(backend, out), values(backend, bias));
      } else {
        const summed = binaryInfo(ctx, backend, BinaryOp.add, out, bias);
        backend.disposeIntermediateTensorInfo(out);
        out = summed;
      }
    }
    switch (attrs.activation) {
      case "linear":
      case undefined:
        return out;
      case "relu":
        ctx.ops.unary(UnaryOp.relu, values(backend, out), values(backend, out));
        return out;
      case "sigmoid":
        ctx.ops.unary(UnaryOp.sigmoid, values(backend, out), values(backend, out));
        return out;
      default: {
        // elu, relu6, leakyrelu, prelu: rare; the stock kernels do them.
        const name = { elu: tf.Elu, relu6: tf.Relu6, leakyrelu: tf.LeakyRelu, prelu: tf.Prelu }[attrs.activation];
        if (!name) throw new Error(`_FusedMatMul: unknown activation ${attrs.activation}`);
        const inputs = name === tf.Prelu ? { x: out, alpha: preluActivationWeights as TensorInfo } : { x: out };
        const act = tf.getKernel(name, "cpu")!.kernelFunc({ inputs, backend: args.backend, attrs: { alpha: attrs.leakyreluAlpha ?? 0.2 } }) as TensorInfo;
        backend.disposeIntermediateTensorInfo(out);
        return act;
      }
    }
  };
}

// ---- elementwise ---------------------------------------------------------------

function binaryInfo(ctx: KernelContext, backend: CpuBackendLike, op: BinaryOp, a: TensorInfo, b: TensorInfo): TensorInfo {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const out = new Float32Array(sizeOf(outShape));
  if (out.length > 0) {
    const c = collapseStrided(outShape, [broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)]);
    ctx.ops.binary(op, values(backend, a), values(backend, b), out, Int32Array.from(c.shape), Int32Array.from(c.strides[0]), Int32Array.from(c.strides[1]));
  }
  return backend.makeTensorInfo(outShape, "float32", out);
}

function binaryKernel(ctx: KernelContext, name: string, op: BinaryOp): KernelFunc {
  return (args: Args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const rank = Math.max(a.shape.length, b.shape.length);
    if (!allFloat(a, b) || rank > 8) return ctx.stock(name)(args);
    return binaryInfo(ctx, args.backend as CpuBackendLike, op, a, b);
  };
}

function unaryKernel(ctx: KernelContext, name: string, op: UnaryOp): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (!allFloat(x)) return ctx.stock(name)(args);
    const backend = args.backend as CpuBackendLike;
    const xv = values(backend, x);
    const out = new Float32Array(xv.length);
    ctx.ops.unary(op, xv, out);
    return backend.makeTensorInfo([...x.shape], "float32", out);
  };
}

// ---- layout and reductions --------------------------------------------------------

function transposeInfo(ctx: KernelContext, backend: CpuBackendLike, x: TensorInfo, perm: number[]): TensorInfo {
  const outShape = perm.map((p) => x.shape[p]);
  const c = collapseTranspose(x.shape, perm);
  if (c.perm.every((p, i) => p === i)) {
    backend.incRef(x.dataId); // same memory order: share the data, as Reshape does
    return { dataId: x.dataId, shape: outShape, dtype: x.dtype };
  }
  const out = new Float32Array(sizeOf(outShape));
  ctx.ops.transpose(values(backend, x), out, Int32Array.from(c.shape), Int32Array.from(c.perm));
  return backend.makeTensorInfo(outShape, "float32", out);
}

function transposeKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (!allFloat(x) || x.shape.length > 8) return ctx.stock(tf.Transpose)(args);
    return transposeInfo(ctx, args.backend as CpuBackendLike, x, perm);
  };
}

function reduceInfo(ctx: KernelContext, backend: CpuBackendLike, op: ReduceOp, x: TensorInfo, axes: number[], keepDims: boolean): TensorInfo {
  const reduced = new Set(axes);
  const outShapeFlat = x.shape.filter((_, d) => !reduced.has(d));
  const outShape = keepDims ? x.shape.map((s, d) => (reduced.has(d) ? 1 : s)) : outShapeFlat;
  const out = new Float32Array(sizeOf(outShapeFlat));
  const xv = values(backend, x);
  // Runs of kept (K) and reduced (R) dims, size-1 dims dropped.
  const runs: { r: boolean; size: number }[] = [];
  x.shape.forEach((s, d) => {
    if (s === 1) return;
    const r = reduced.has(d);
    const last = runs[runs.length - 1];
    if (last && last.r === r) last.size *= s;
    else runs.push({ r, size: s });
  });
  const pattern = runs.map((g) => (g.r ? "R" : "K")).join("");
  const total = sizeOf(x.shape);
  if (total === 0 || pattern === "" || pattern === "K") {
    if (total === 0) ctx.ops.reduceRows(op, xv, out, out.length, 0);
    else out.set(xv);
  } else if (pattern === "R" || pattern === "KR") {
    ctx.ops.reduceRows(op, xv, out, out.length, total / Math.max(out.length, 1));
  } else if (pattern === "RK" || pattern === "KRK") {
    const outer = pattern === "KRK" ? runs[0].size : 1;
    const n = runs[pattern === "KRK" ? 1 : 0].size;
    ctx.ops.reduceCols(op, xv, out, outer, n, total / (outer * n));
  } else {
    const perm = [...x.shape.keys()].filter((d) => !reduced.has(d)).concat(axes);
    const moved = transposeInfo(ctx, backend, x, perm);
    ctx.ops.reduceRows(op, values(backend, moved), out, out.length, total / Math.max(out.length, 1));
    backend.disposeIntermediateTensorInfo(moved);
  }
  return backend.makeTensorInfo(outShape, "float32", out);
}

function reduceKernel(ctx: KernelContext, name: string, op: ReduceOp, mean = false): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const attrs = args.attrs as unknown as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    if (!allFloat(x)) return ctx.stock(name)(args);
    const axes = tf.util.parseAxisParam((attrs.axis ?? attrs.reductionIndices) as number | number[], x.shape);
    const backend = args.backend as CpuBackendLike;
    const out = reduceInfo(ctx, backend, op, x, axes, attrs.keepDims);
    if (mean) {
      const n = axes.reduce((acc, d) => acc * x.shape[d], 1);
      const v = values(backend, out);
      for (let i = 0; i < v.length; i++) v[i] /= n;
    }
    return out;
  };
}

function softmaxKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { logits } = args.inputs as { logits: TensorInfo };
    const { dim } = args.attrs as unknown as { dim: number };
    const rank = logits.shape.length;
    if (!allFloat(logits) || rank === 0 || (dim !== -1 && dim !== rank - 1)) return ctx.stock(tf.Softmax)(args);
    const backend = args.backend as CpuBackendLike;
    const n = logits.shape[rank - 1];
    const xv = values(backend, logits);
    const out = new Float32Array(xv.length);
    if (n > 0) ctx.ops.softmax(xv, out, xv.length / n, n);
    return backend.makeTensorInfo([...logits.shape], "float32", out);
  };
}

// ---- slicing (copies; stock returns views or walks element by element) ----------------

type Flat = Float32Array | Int32Array | Uint8Array;

/** Copy x[begin : begin + size] of a row-major array as contiguous runs. */
function sliceCopy(vals: Flat, shape: readonly number[], begin: readonly number[], size: readonly number[]): Flat {
  const rank = shape.length;
  const out = new (vals.constructor as new (n: number) => Flat)(sizeOf(size));
  if (out.length === 0) return out;
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  // dims from `c` on form one contiguous run: those after c are taken whole
  let c = rank - 1;
  while (c > 0 && size[c] === shape[c]) c--;
  const run = c < 0 ? out.length : size.slice(c).reduce((a, b) => a * b, 1);
  const outer = out.length / run;
  const idx = new Array<number>(Math.max(c, 0)).fill(0);
  let base = 0;
  for (let d = 0; d < rank; d++) base += begin[d] * strides[d];
  let src = base;
  for (let it = 0; it < outer; it++) {
    out.set(vals.subarray(src, src + run), it * run);
    for (let d = c - 1; d >= 0; d--) {
      idx[d]++;
      src += strides[d];
      if (idx[d] < size[d]) break;
      src -= strides[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}

function copyable(t: TensorInfo): boolean {
  return t.dtype === "float32" || t.dtype === "int32" || t.dtype === "bool";
}

function sliceKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (!copyable(x)) return ctx.stock(tf.Slice)(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, sz] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    tf.slice_util.assertParamsValid(x as unknown as tf.Tensor, b, sz);
    const backend = args.backend as CpuBackendLike;
    const out = sliceCopy(backend.data.get(x.dataId).values as Flat, x.shape, b, sz);
    return backend.makeTensorInfo(sz, x.dtype, out as Float32Array);
  };
}

function splitKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (!copyable(x)) return ctx.stock(tf.SplitV)(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax) as number[];
    const backend = args.backend as CpuBackendLike;
    const vals = backend.data.get(x.dataId).values as Flat;
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = [...x.shape];
      size[ax] = n;
      const out = sliceCopy(vals, x.shape, begin, size);
      begin[ax] += n;
      return backend.makeTensorInfo(size, x.dtype, out as Float32Array);
    });
  };
}

function concatKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const { axis } = args.attrs as unknown as { axis: number };
    if (inputs.length === 0 || !inputs.every((t) => copyable(t) && t.dtype === inputs[0].dtype)) return ctx.stock(tf.Concat)(args);
    const ax = tf.util.parseAxisParam(axis, inputs[0].shape)[0];
    const outShape = tf.backend_util.computeOutShape(
      inputs.map((t) => t.shape),
      ax,
    );
    const backend = args.backend as CpuBackendLike;
    const first = backend.data.get(inputs[0].dataId).values as Flat;
    const out = new (first.constructor as new (n: number) => Flat)(sizeOf(outShape));
    const outer = sizeOf(outShape.slice(0, ax));
    const outRun = sizeOf(outShape.slice(ax));
    let col = 0;
    for (const t of inputs) {
      const run = sizeOf(t.shape.slice(ax));
      const v = backend.data.get(t.dataId).values as Flat;
      for (let o = 0; o < outer; o++) out.set(v.subarray(o * run, (o + 1) * run), o * outRun + col);
      col += run;
    }
    return backend.makeTensorInfo(outShape, inputs[0].dtype, out as Float32Array);
  };
}

/** PadV2 with a constant: the input's contiguous runs copied into a filled output (stock walks element by element). */
function padKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (!copyable(x) || x.shape.length === 0) return ctx.stock(tf.PadV2)(args);
    const { paddings, constantValue } = args.attrs as unknown as { paddings: [number, number][]; constantValue: number };
    const rank = x.shape.length;
    const outShape = x.shape.map((n, d) => paddings[d][0] + n + paddings[d][1]);
    const backend = args.backend as CpuBackendLike;
    const vals = backend.data.get(x.dataId).values as Flat;
    const out = new (vals.constructor as new (n: number) => Flat)(sizeOf(outShape));
    if (constantValue !== 0) out.fill(constantValue);
    if (vals.length > 0) {
      const outStrides = new Array<number>(rank);
      let s = 1;
      for (let d = rank - 1; d >= 0; d--) {
        outStrides[d] = s;
        s *= outShape[d];
      }
      // the innermost unpadded dims are whole runs in both arrays
      let c = rank - 1;
      while (c > 0 && paddings[c][0] === 0 && paddings[c][1] === 0) c--;
      const run = sizeOf(x.shape.slice(c));
      const outer = vals.length / run;
      const idx = new Array<number>(c).fill(0);
      let dst = 0;
      for (let d = 0; d < rank; d++) dst += paddings[d][0] * outStrides[d];
      for (let it = 0; it < outer; it++) {
        let o = dst;
        for (let d = 0; d < c; d++) o += idx[d] * outStrides[d];
        out.set(vals.subarray(it * run, (it + 1) * run), o);
        for (let d = c - 1; d >= 0; d--) {
          if (++idx[d] < x.shape[d]) break;
          idx[d] = 0;
        }
      }
    }
    return backend.makeTensorInfo(outShape, x.dtype, out as Float32Array);
  };
}

// ---- gather / scatter (embedding lookups and their gradients) ---------------------

function gatherKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims?: number };
    if (!copyable(x) || (batchDims ?? 0) !== 0) return ctx.stock(tf.GatherV2)(args);
    const backend = args.backend as CpuBackendLike;
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const ids = backend.data.get(indices.dataId).values as ArrayLike<number>;
    const dim = x.shape[ax];
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] <= dim - 1)) throw new Error(`GatherV2: the index value ${ids[i]} is not in [0, ${dim - 1}]`);
    }
    const outer = sizeOf(x.shape.slice(0, ax));
    const run = sizeOf(x.shape.slice(ax + 1));
    const vals = backend.data.get(x.dataId).values as Flat;
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const out = new (vals.constructor as new (n: number) => Flat)(sizeOf(outShape));
    let dst = 0;
    for (let o = 0; o < outer; o++) {
      const base = o * dim * run;
      for (let i = 0; i < ids.length; i++) {
        const src = base + ids[i] * run;
        out.set(vals.subarray(src, src + run), dst);
        dst += run;
      }
    }
    return backend.makeTensorInfo(outShape, x.dtype, out as Float32Array);
  };
}

function segmentSumKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    if (!allFloat(x) || segmentIds.shape.some((d, i) => d !== x.shape[i])) return ctx.stock(tf.UnsortedSegmentSum)(args);
    const backend = args.backend as CpuBackendLike;
    const ids = backend.data.get(segmentIds.dataId).values as ArrayLike<number>;
    const run = sizeOf(x.shape.slice(segmentIds.shape.length));
    const xv = values(backend, x);
    const out = new Float32Array(numSegments * run);
    for (let i = 0; i < ids.length; i++) {
      const seg = ids[i];
      if (seg < 0 || seg >= numSegments) continue; // as TensorFlow: out-of-range ids are dropped
      const dst = seg * run;
      const src = i * run;
      for (let j = 0; j < run; j++) out[dst + j] += xv[src + j];
    }
    return backend.makeTensorInfo([numSegments, ...x.shape.slice(segmentIds.shape.length)], "float32", out);
  };
}

// ---- top-k (the hypergraph's kNN): a k-slot insertion per row instead of sorting objects ------------

function topKKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { k } = args.attrs as unknown as { k: number; sorted: boolean };
    if (!allFloat(x) || x.shape.length === 0) return ctx.stock(tf.TopK)(args);
    const backend = args.backend as CpuBackendLike;
    const v = values(backend, x);
    const n = x.shape[x.shape.length - 1];
    if (k > n) return ctx.stock(tf.TopK)(args);
    const rows = n === 0 ? 0 : v.length / n;
    const outV = new Float32Array(rows * k);
    const outI = new Int32Array(rows * k);
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      const ob = r * k;
      let filled = 0;
      for (let j = 0; j < n; j++) {
        const val = v[base + j];
        // strictly greater moves ahead, so equal values keep the lower index first (tfjs's order)
        if (filled === k && !(val > outV[ob + k - 1])) continue;
        let pos = filled < k ? filled : k - 1;
        while (pos > 0 && val > outV[ob + pos - 1]) {
          outV[ob + pos] = outV[ob + pos - 1];
          outI[ob + pos] = outI[ob + pos - 1];
          pos--;
        }
        outV[ob + pos] = val;
        outI[ob + pos] = j;
        if (filled < k) filled++;
      }
    }
    const shape = [...x.shape.slice(0, -1), k];
    return [backend.makeTensorInfo(shape, "float32", outV), backend.makeTensorInfo(shape, "int32", outI as unknown as Float32Array)];
  };
}

// ---- fused LayerNorm (kernels of polyalign's own; core/tensor/fused-layer-norm.ts calls them) ----

export const LAYER_NORM = "PolyalignLayerNorm";
export const LAYER_NORM_GRAD = "PolyalignLayerNormGrad";

/** inputs x [..., n], gamma [n], beta [n]; attrs eps → [y, mean [rows], rstd [rows]] */
function layerNormKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x, gamma, beta } = args.inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { eps } = args.attrs as unknown as { eps: number };
    const backend = args.backend as CpuBackendLike;
    const n = x.shape[x.shape.length - 1];
    const xv = values(backend, x);
    const rows = xv.length / n;
    const out = new Float32Array(xv.length);
    const mean = new Float32Array(rows);
    const rstd = new Float32Array(rows);
    ctx.ops.layerNorm(xv, values(backend, gamma), values(backend, beta), out, mean, rstd, rows, n, eps);
    return [
      backend.makeTensorInfo([...x.shape], "float32", out),
      backend.makeTensorInfo([rows], "float32", mean),
      backend.makeTensorInfo([rows], "float32", rstd),
    ];
  };
}

/** inputs dy, x, gamma, mean, rstd → [dx, dgamma, dbeta] */
function layerNormGradKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { dy, x, gamma, mean, rstd } = args.inputs as Record<"dy" | "x" | "gamma" | "mean" | "rstd", TensorInfo>;
    const backend = args.backend as CpuBackendLike;
    const n = x.shape[x.shape.length - 1];
    const xv = values(backend, x);
    const dx = new Float32Array(xv.length);
    const dgamma = new Float32Array(n);
    const dbeta = new Float32Array(n);
    ctx.ops.layerNormGrad(values(backend, dy), xv, values(backend, gamma), values(backend, mean), values(backend, rstd), dx, dgamma, dbeta, xv.length / n, n);
    return [backend.makeTensorInfo([...x.shape], "float32", dx), backend.makeTensorInfo([n], "float32", dgamma), backend.makeTensorInfo([n], "float32", dbeta)];
  };
}

export const SOFTMAX_GRAD = "PolyalignSoftmaxGrad";

/** inputs dy, y (softmax's output over the last axis) → dx */
function softmaxGradKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { dy, y } = args.inputs as { dy: TensorInfo; y: TensorInfo };
    const backend = args.backend as CpuBackendLike;
    const yv = values(backend, y);
    const n = y.shape[y.shape.length - 1];
    const dx = new Float32Array(yv.length);
    ctx.ops.softmaxGrad(values(backend, dy), yv, dx, yv.length / n, n);
    return backend.makeTensorInfo([...y.shape], "float32", dx);
  };
}

export const GELU = "PolyalignGelu";
export const GELU_GRAD = "PolyalignGeluGrad";

function geluKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as CpuBackendLike;
    const xv = values(backend, x);
    const out = new Float32Array(xv.length);
    ctx.ops.gelu(xv, out);
    return backend.makeTensorInfo([...x.shape], "float32", out);
  };
}

function geluGradKernel(ctx: KernelContext): KernelFunc {
  return (args: Args) => {
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    const backend = args.backend as CpuBackendLike;
    const xv = values(backend, x);
    const dx = new Float32Array(xv.length);
    ctx.ops.geluGrad(values(backend, dy), xv, dx);
    return backend.makeTensorInfo([...x.shape], "float32", dx);
  };
}

/** Kernels tfjs does not have, added (not replacing anything) where the ops provide them. */
export function buildAddedKernels(ctx: KernelContext): Map<string, KernelFunc> {
  const added = new Map<string, KernelFunc>();
  if (typeof ctx.ops.layerNorm === "function" && typeof ctx.ops.layerNormGrad === "function") {
    added.set(LAYER_NORM, layerNormKernel(ctx));
    added.set(LAYER_NORM_GRAD, layerNormGradKernel(ctx));
  }
  if (typeof ctx.ops.softmaxGrad === "function") added.set(SOFTMAX_GRAD, softmaxGradKernel(ctx));
  if (typeof ctx.ops.gelu === "function" && typeof ctx.ops.geluGrad === "function") {
    added.set(GELU, geluKernel(ctx));
    added.set(GELU_GRAD, geluGradKernel(ctx));
  }
  return added;
}

/** Every kernel polyalign replaces, by tfjs kernel name. */
export function buildKernels(ctx: KernelContext): Map<string, KernelFunc> {
  return new Map<string, KernelFunc>([
    [tf.BatchMatMul, batchMatMulKernel(ctx)],
    [tf._FusedMatMul, fusedMatMulKernel(ctx)],
    [tf.Add, binaryKernel(ctx, tf.Add, BinaryOp.add)],
    [tf.Sub, binaryKernel(ctx, tf.Sub, BinaryOp.sub)],
    [tf.Multiply, binaryKernel(ctx, tf.Multiply, BinaryOp.mul)],
    [tf.RealDiv, binaryKernel(ctx, tf.RealDiv, BinaryOp.div)],
    [tf.Maximum, binaryKernel(ctx, tf.Maximum, BinaryOp.max)],
    [tf.Minimum, binaryKernel(ctx, tf.Minimum, BinaryOp.min)],
    [tf.SquaredDifference, binaryKernel(ctx, tf.SquaredDifference, BinaryOp.sqdiff)],
    [tf.Pow, binaryKernel(ctx, tf.Pow, BinaryOp.pow)],
    [tf.Exp, unaryKernel(ctx, tf.Exp, UnaryOp.exp)],
    [tf.Erf, unaryKernel(ctx, tf.Erf, UnaryOp.erf)],
    [tf.Tanh, unaryKernel(ctx, tf.Tanh, UnaryOp.tanh)],
    [tf.Neg, unaryKernel(ctx, tf.Neg, UnaryOp.neg)],
    [tf.Square, unaryKernel(ctx, tf.Square, UnaryOp.square)],
    [tf.Rsqrt, unaryKernel(ctx, tf.Rsqrt, UnaryOp.rsqrt)],
    [tf.Sqrt, unaryKernel(ctx, tf.Sqrt, UnaryOp.sqrt)],
    [tf.Log, unaryKernel(ctx, tf.Log, UnaryOp.log)],
    [tf.Sigmoid, unaryKernel(ctx, tf.Sigmoid, UnaryOp.sigmoid)],
    [tf.Relu, unaryKernel(ctx, tf.Relu, UnaryOp.relu)],
    [tf.Abs, unaryKernel(ctx, tf.Abs, UnaryOp.abs)],
    [tf.Reciprocal, unaryKernel(ctx, tf.Reciprocal, UnaryOp.reciprocal)],
    [tf.Floor, unaryKernel(ctx, tf.Floor, UnaryOp.floor)],
    [tf.Transpose, transposeKernel(ctx)],
    [tf.Sum, reduceKernel(ctx, tf.Sum, ReduceOp.sum)],
    [tf.Mean, reduceKernel(ctx, tf.Mean, ReduceOp.sum, true)],
    [tf.Max, reduceKernel(ctx, tf.Max, ReduceOp.max)],
    [tf.Min, reduceKernel(ctx, tf.Min, ReduceOp.min)],
    [tf.Prod, reduceKernel(ctx, tf.Prod, ReduceOp.prod)],
    [tf.Softmax, softmaxKernel(ctx)],
    [tf.Slice, sliceKernel(ctx)],
    [tf.SplitV, splitKernel(ctx)],
    [tf.Concat, concatKernel(ctx)],
    [tf.PadV2, padKernel(ctx)],
    [tf.GatherV2, gatherKernel(ctx)],
    [tf.UnsortedSegmentSum, segmentSumKernel(ctx)],
    [tf.TopK, topKKernel(ctx)],
  ]);
}
