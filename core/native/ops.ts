/**
 * The low-level float32 routines polyalign's CPU kernels are built on. Two
 * implementations: the native addon (OpenBLAS + C loops) and plain JS. Shapes
 * reach these already collapsed; arrays are the caller's, outputs preallocated.
 */
export const BinaryOp = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, sqdiff: 6, pow: 7 } as const;
export type BinaryOp = (typeof BinaryOp)[keyof typeof BinaryOp];

export const UnaryOp = {
  exp: 0,
  erf: 1,
  tanh: 2,
  neg: 3,
  square: 4,
  rsqrt: 5,
  sqrt: 6,
  log: 7,
  sigmoid: 8,
  relu: 9,
  abs: 10,
  reciprocal: 11,
  floor: 12,
} as const;
export type UnaryOp = (typeof UnaryOp)[keyof typeof UnaryOp];

export const ReduceOp = { sum: 0, max: 1, min: 2, prod: 3 } as const;
export type ReduceOp = (typeof ReduceOp)[keyof typeof ReduceOp];

export interface CpuOps {
  /** `native` (OpenBLAS addon) or `js` */
  readonly name: string;
  /** out[i] (m×n) = op(a @ aOffsets[i]) · op(b @ bOffsets[i]), op = transpose when flagged. */
  gemmBatched(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    aOffsets: Int32Array,
    bOffsets: Int32Array,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
  ): void;
  /** Strided broadcast: stride 0 marks a broadcast dim; rank 1..8. */
  binary(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array, shape: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  unary(op: UnaryOp, x: Float32Array, out: Float32Array): void;
  transpose(x: Float32Array, out: Float32Array, shape: Int32Array, perm: Int32Array): void;
  /** x [outer, n] → out [outer] */
  reduceRows(op: ReduceOp, x: Float32Array, out: Float32Array, outer: number, n: number): void;
  /** x [outer, n, inner] → out [outer, inner] */
  reduceCols(op: ReduceOp, x: Float32Array, out: Float32Array, outer: number, n: number, inner: number): void;
  /** softmax over each contiguous row of n */
  softmax(x: Float32Array, out: Float32Array, rows: number, n: number): void;
  /** x [rows, bias.length] += bias, in place */
  addBias(x: Float32Array, bias: Float32Array): void;
  /**
   * One AdamW step, PyTorch's order: p·decay, m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·g²,
   * out = p·decay − (m / (√v / √bc2 + eps))·lrOverBc1. Inputs are read, outputs written
   * (all of one length); `coeffs` = [decay, b1, 1−b1, b2, 1−b2, √bc2, eps, lrOverBc1].
   */
  adamw(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    coeffs: Float32Array,
  ): void;
  /**
   * LayerNorm over each contiguous row of n: out = (x − mean)·rstd·gamma + beta, with the
   * row's mean and rstd = 1/√(var + eps) written too (sums in double, rounded once).
   */
  layerNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    out: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    n: number,
    eps: number,
  ): void;
  /** LayerNorm's gradient from the forward's mean and rstd: dx, and dgamma / dbeta summed over the rows (written, not added to). */
  layerNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    rows: number,
    n: number,
  ): void;
  /** softmax's gradient over each contiguous row of n from its output y: dx = y·(dy − Σ dy·y) */
  softmaxGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, rows: number, n: number): void;
  /** exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), elementwise */
  gelu(x: Float32Array, out: Float32Array): void;
  /** its gradient: dx = dy·(Φ(x) + x·φ(x)) */
  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  setThreads(n: number): void;
  getThreads(): number;
  /**
   * Native only: the least work (in units of one float add) an elementwise, row-wise or
   * reduction kernel must have before it is split over the threads; returns the previous value.
   */
  setParallelMinWork?(work: number): number;
  /** Native only: the least multiply-adds (batch·m·n·k) a matrix-product call must have before it is split over the threads; returns the previous value. */
  setGemmMinMacs?(macs: number): number;
}
