/**
 * PyTorch's bicubic resize (`F.interpolate(mode="bicubic", align_corners=False)`):
 * cubic convolution with A = −0.75, source coordinate scale·(o + ½) − ½ per
 * axis, edge taps clamped.
 */

function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
  const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  const w3 = ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A;
  return [w0, w1, w2, w3];
}

function taps(inSize: number, outSize: number): [number, number][][] {
  const scale = inSize / outSize;
  return Array.from({ length: outSize }, (_, o) => {
    const real = scale * (o + 0.5) - 0.5;
    const i = Math.floor(real);
    const w = cubicWeights(real - i);
    return [0, 1, 2, 3].map((k) => [Math.min(inSize - 1, Math.max(0, i - 1 + k)), w[k]] as [number, number]);
  });
}

/** Resize a [H, W, D] grid (row-major, channels last) to [outH, outW, D]. */
export function bicubicResize(grid: Float32Array, h: number, w: number, outH: number, outW: number, d = 1): Float32Array {
  if (grid.length !== h * w * d) throw new Error(`bicubicResize: ${grid.length} values for a ${h}×${w}×${d} grid`);
  const out = new Float32Array(outH * outW * d);
  const rows = taps(h, outH);
  const cols = taps(w, outW);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const o = (oy * outW + ox) * d;
      for (const [iy, wy] of rows[oy]) {
        for (const [ix, wx] of cols[ox]) {
          const wt = wy * wx;
          const src = (iy * w + ix) * d;
          for (let c = 0; c < d; c++) out[o + c] += wt * grid[src + c];
        }
      }
    }
  }
  return out;
}
