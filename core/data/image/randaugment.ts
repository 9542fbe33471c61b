/**
 * ALBEF's RandomAugment(N=2, M=7) with its ten operations: each call draws N
 * operation names uniformly with replacement and applies each with
 * probability 0.5. At M = 7 (of 10): brightness and sharpness factor 1.36,
 * shear ±0.21, translate ±7 px, rotate ±21°, fill (128, 128, 128).
 * Geometric ops sample bilinearly like OpenCV's warpAffine. One deliberate
 * difference: sharpness clips to [0, 255] where ALBEF's numpy cast wraps.
 */
import type { Rng } from "../../tensor/rng.ts";
import { imageOps } from "./image-ops.ts";
import type { RgbImage } from "./rgb.ts";

export const ALBEF_AUGMENTATIONS = [
  "Identity",
  "AutoContrast",
  "Equalize",
  "Brightness",
  "Sharpness",
  "ShearX",
  "ShearY",
  "TranslateX",
  "TranslateY",
  "Rotate",
] as const;
export type AugmentationName = (typeof ALBEF_AUGMENTATIONS)[number];

const MAX_LEVEL = 10;
const FILL = 128;

function mapTable(img: RgbImage, tables: Uint8Array[]): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i += 3) {
    out[i] = tables[0][img.data[i]];
    out[i + 1] = tables[1][img.data[i + 1]];
    out[i + 2] = tables[2][img.data[i + 2]];
  }
  return { ...img, data: out };
}

function perChannel(img: RgbImage, f: (hist: Float64Array, min: number, max: number) => Uint8Array): RgbImage {
  const hist = [new Float64Array(256), new Float64Array(256), new Float64Array(256)];
  const [h0, h1, h2] = hist;
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    h0[d[i]]++;
    h1[d[i + 1]]++;
    h2[d[i + 2]]++;
  }
  const tables = hist.map((h) => {
    let min = 0;
    while (min < 255 && h[min] === 0) min++;
    let max = 255;
    while (max > 0 && h[max] === 0) max--;
    return f(h, min, max);
  });
  return mapTable(img, tables);
}

export function autoContrast(img: RgbImage): RgbImage {
  return perChannel(img, (_h, low, high) => {
    const table = new Uint8Array(256);
    for (let v = 0; v < 256; v++) {
      if (high <= low) table[v] = v;
      else table[v] = Math.trunc(Math.min(255, Math.max(0, v * (255 / (high - low)) - low * (255 / (high - low)))));
    }
    return table;
  });
}

export function equalize(img: RgbImage): RgbImage {
  return perChannel(img, (hist) => {
    const nonZero = [...hist].filter((h) => h !== 0);
    const step = Math.floor(nonZero.slice(0, -1).reduce((a, b) => a + b, 0) / 255);
    const table = new Uint8Array(256);
    if (step === 0) {
      for (let v = 0; v < 256; v++) table[v] = v;
      return table;
    }
    let acc = Math.floor(step / 2);
    for (let v = 0; v < 256; v++) {
      table[v] = Math.min(255, Math.floor(acc / step));
      acc += hist[v];
    }
    return table;
  });
}

export function brightness(img: RgbImage, factor: number): RgbImage {
  const t = new Uint8Array(256);
  const f32 = Math.fround(factor); // numpy: float32 table × factor, in float32
  for (let v = 0; v < 256; v++) t[v] = Math.trunc(Math.min(255, Math.max(0, Math.fround(v * f32))));
  return mapTable(img, [t, t, t]);
}

/** Blend with the 3×3 smoothing kernel (centre 5, others 1, /13); the 1-pixel border is left as it is. */
export function sharpness(img: RgbImage, factor: number): RgbImage {
  const out = new Uint8Array(img.data.length);
  imageOps().sharpness(img.data, out, img.width, img.height, factor);
  return { ...img, data: out };
}

/**
 * Sample the source at the inverse map `(x, y) → (a·x + b·y + c, d·x + e·y + f)`,
 * bilinear, out-of-image neighbours taking the fill value.
 */
function warp(img: RgbImage, inv: [number, number, number, number, number, number]): RgbImage {
  const out = new Uint8Array(img.data.length);
  imageOps().warpAffine(img.data, out, img.width, img.height, Float64Array.from(inv), FILL);
  return { ...img, data: out };
}

/** dst(x, y) = src(x − f·y, y), as cv2.warpAffine with [[1, f, 0], [0, 1, 0]]. */
export const shearX = (img: RgbImage, f: number) => warp(img, [1, -f, 0, 0, 1, 0]);
/** dst(x, y) = src(x, y − f·x). */
export const shearY = (img: RgbImage, f: number) => warp(img, [1, 0, 0, -f, 1, 0]);
/** dst(x, y) = src(x + offset, y) (the image moves left by `offset` px). */
export const translateX = (img: RgbImage, offset: number) => warp(img, [1, 0, offset, 0, 1, 0]);
export const translateY = (img: RgbImage, offset: number) => warp(img, [1, 0, 0, 0, 1, offset]);

/** Counter-clockwise by `degrees` about (W/2, H/2), as cv2.getRotationMatrix2D + warpAffine. */
export function rotate(img: RgbImage, degrees: number): RgbImage {
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const cx = img.width / 2;
  const cy = img.height / 2;
  // forward: x' = cos·x + sin·y + (1−cos)cx − sin·cy ; y' = −sin·x + cos·y + sin·cx + (1−cos)cy
  // inverse (rotation by −t about the same centre):
  return warp(img, [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy]);
}

export interface RandAugmentOptions {
  n: number;
  m: number;
  ops?: readonly AugmentationName[];
}

/** One RandomAugment call: what was applied is returned too (for logs and specs). */
export function randAugment(img: RgbImage, rng: Rng, opts: RandAugmentOptions = { n: 2, m: 7 }): { image: RgbImage; applied: string[] } {
  const ops = opts.ops ?? ALBEF_AUGMENTATIONS;
  const level = opts.m / MAX_LEVEL;
  const chosen = Array.from({ length: opts.n }, () => ops[rng.int(ops.length)]);
  const applied: string[] = [];
  let out = img;
  for (const name of chosen) {
    if (rng.uniform() > 0.5) continue;
    const sign = () => (rng.uniform() > 0.5 ? -1 : 1);
    switch (name) {
      case "Identity":
        break;
      case "AutoContrast":
        out = autoContrast(out);
        break;
      case "Equalize":
        out = equalize(out);
        break;
      case "Brightness":
        out = brightness(out, level * 1.8 + 0.1);
        break;
      case "Sharpness":
        out = sharpness(out, level * 1.8 + 0.1);
        break;
      case "ShearX":
        out = shearX(out, sign() * level * 0.3);
        break;
      case "ShearY":
        out = shearY(out, sign() * level * 0.3);
        break;
      case "TranslateX":
        out = translateX(out, sign() * level * 10);
        break;
      case "TranslateY":
        out = translateY(out, sign() * level * 10);
        break;
      case "Rotate": {
        // ALBEF negates the angle when random < 0.5 (the other ops: when > 0.5)
        const s = rng.uniform() < 0.5 ? -1 : 1;
        out = rotate(out, s * level * 30);
        break;
      }
    }
    applied.push(name);
  }
  return { image: out, applied };
}
