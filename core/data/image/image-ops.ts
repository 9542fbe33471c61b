/**
 * The pixel loops of RandAugment's geometric and sharpness operations and of
 * the normalisation: the native addon's (core/native/src/image_ops.c) when it
 * is loaded, else these JS ones — the same arithmetic in the same order, so
 * the pixels are the same either way (spec/core/data/image/image-ops.spec.ts).
 */
import { loadNativeOps, type NativeImageOps } from "../../native/addon.ts";

const roundClamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));

function sampleOrFill(data: Uint8Array, w: number, h: number, xi: number, yi: number, ch: number, fill: number): number {
  return xi < 0 || yi < 0 || xi >= w || yi >= h ? fill : data[(yi * w + xi) * 3 + ch];
}

export const jsImageOps: NativeImageOps = {
  warpAffine(data, out, w, h, inv, fill) {
    const [a, b, c, d, e, f] = inv;
    const row = 3 * w;
    for (let y = 0; y < h; y++) {
      const by = b * y;
      const ey = e * y;
      for (let x = 0; x < w; x++) {
        const sx = a * x + by + c;
        const sy = d * x + ey + f;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const gx = 1 - fx;
        const gy = 1 - fy;
        const o = (y * w + x) * 3;
        if (x0 >= 0 && y0 >= 0 && x0 < w - 1 && y0 < h - 1) {
          // all four neighbours inside: no bounds checks
          const i = y0 * row + x0 * 3;
          const j = i + row;
          out[o] = roundClamp(gy * (gx * data[i] + fx * data[i + 3]) + fy * (gx * data[j] + fx * data[j + 3]));
          out[o + 1] = roundClamp(gy * (gx * data[i + 1] + fx * data[i + 4]) + fy * (gx * data[j + 1] + fx * data[j + 4]));
          out[o + 2] = roundClamp(gy * (gx * data[i + 2] + fx * data[i + 5]) + fy * (gx * data[j + 2] + fx * data[j + 5]));
        } else if (x0 >= -1 && y0 >= -1 && x0 < w && y0 < h) {
          for (let ch = 0; ch < 3; ch++) {
            const p00 = sampleOrFill(data, w, h, x0, y0, ch, fill);
            const p10 = sampleOrFill(data, w, h, x0 + 1, y0, ch, fill);
            const p01 = sampleOrFill(data, w, h, x0, y0 + 1, ch, fill);
            const p11 = sampleOrFill(data, w, h, x0 + 1, y0 + 1, ch, fill);
            out[o + ch] = roundClamp(gy * (gx * p00 + fx * p10) + fy * (gx * p01 + fx * p11));
          }
        } else {
          out[o] = out[o + 1] = out[o + 2] = roundClamp(gy * (gx * fill + fx * fill) + fy * (gx * fill + fx * fill));
        }
      }
    }
  },

  sharpness(data, out, w, h, factor) {
    out.set(data);
    if (factor === 1 || w < 3 || h < 3) return;
    const row = 3 * w;
    for (let y = 1; y < h - 1; y++) {
      for (let i = y * row + 3, end = (y + 1) * row - 3; i < end; i++) {
        const s =
          5 * data[i] +
          data[i - row - 3] +
          data[i - row] +
          data[i - row + 3] +
          data[i - 3] +
          data[i + 3] +
          data[i + row - 3] +
          data[i + row] +
          data[i + row + 3];
        const degenerate = Math.round(s / 13);
        const v = degenerate + factor * (data[i] - degenerate);
        out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
      }
    }
  },

  normalizeChw(src, dst, scale, shift) {
    const n = src.length / 3;
    const [s0, s1, s2] = scale;
    const [m0, m1, m2] = shift;
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      dst[i] = src[j] * s0 - m0;
      dst[n + i] = src[j + 1] * s1 - m1;
      dst[2 * n + i] = src[j + 2] * s2 - m2;
    }
  },
};

let chosen: NativeImageOps | null = null;

/** The native image operations when the addon is loaded (and not disabled by POLYALIGN_NATIVE=0), else the JS ones. */
export function imageOps(): NativeImageOps {
  chosen ??= loadNativeOps().image ?? jsImageOps;
  return chosen;
}
