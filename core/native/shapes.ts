/** Shape bookkeeping shared by the kernels: broadcasting strides and dimension collapsing. */

/** Row-major strides of `shape` placed right-aligned in `outShape`, 0 where it broadcasts. */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const r = outShape.length;
  const strides = new Array<number>(r).fill(0);
  let s = 1;
  for (let d = inShape.length - 1; d >= 0; d--) {
    const od = d + r - inShape.length;
    strides[od] = inShape[d] === 1 && outShape[od] !== 1 ? 0 : s;
    s *= inShape[d];
  }
  return strides;
}

/**
 * Drop size-1 dims and merge neighbours that are contiguous in every operand,
 * so that loops run over as few and as long dimensions as possible.
 */
export function collapseStrided(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const keep: number[] = [];
  for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) keep.push(d);
  if (keep.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  const outShape: number[] = [shape[keep[keep.length - 1]]];
  const outStrides = strides.map((s) => [s[keep[keep.length - 1]]]);
  for (let i = keep.length - 2; i >= 0; i--) {
    const d = keep[i];
    const mergeable = strides.every((s, j) => s[d] === outStrides[j][0] * outShape[0]);
    if (mergeable) {
      outShape[0] *= shape[d];
    } else {
      outShape.unshift(shape[d]);
      strides.forEach((s, j) => outStrides[j].unshift(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Drop size-1 dims and merge runs that stay adjacent: the smallest equivalent transpose. */
export function collapseTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((_, d) => d).filter((d) => shape[d] !== 1);
  const rank = new Map(kept.map((d, i) => [d, i]));
  const p = perm.filter((d) => shape[d] !== 1).map((d) => rank.get(d) as number);
  const s = kept.map((d) => shape[d]);
  // merge input dims i, i+1 when they are consecutive in the output as well
  const groups: number[][] = [];
  for (const d of p) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] + 1 === d) last.push(d);
    else groups.push([d]);
  }
  const order = [...groups].sort((a, b) => a[0] - b[0]);
  const newShape = order.map((g) => g.reduce((acc, d) => acc * s[d], 1));
  const index = new Map(order.map((g, i) => [g[0], i]));
  return { shape: newShape.length ? newShape : [1], perm: groups.length ? groups.map((g) => index.get(g[0]) as number) : [0] };
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
