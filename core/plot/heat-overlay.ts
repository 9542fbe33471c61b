/**
 * Heat maps over images, as ALBEF's Grad-CAM notebook draws them: a coarse
 * map upsampled bicubically to the image, coloured with matplotlib's jet and
 * blended at 50 %.
 */
import sharp from "sharp";

/** Jet colour of t in [0, 1] (matplotlib's "jet" breakpoints). */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** jet from 0 to 1 as CSS colours, evenly spaced (a colour bar's scale) */
export const JET_COLOURS: readonly string[] = Array.from({ length: 11 }, (_, i) => `rgb(${jet(i / 10).join(",")})`);

/** A map (grid × grid, values over `scale` clipped to 1) upsampled to `size` and blended at 50 % over `base` (RGB, size × size); RGB out. */
export async function heatOverlay(map: Float32Array, grid: number, scale: number, base: Uint8Array, size: number): Promise<Buffer> {
  const grey = Buffer.alloc(grid * grid);
  for (let i = 0; i < map.length; i++) grey[i] = Math.round(255 * Math.min(1, Math.max(0, map[i] / scale)));
  const up = await sharp(grey, { raw: { width: grid, height: grid, channels: 1 } })
    .resize(size, size, { kernel: "cubic", fit: "fill" })
    .extractChannel(0) // sharp hands a one-channel input back as three
    .raw()
    .toBuffer();
  const out = Buffer.alloc(size * size * 3);
  for (let p = 0; p < size * size; p++) {
    const [r, g, b] = jet(up[p] / 255);
    out[3 * p] = Math.round(0.5 * base[3 * p] + 0.5 * r);
    out[3 * p + 1] = Math.round(0.5 * base[3 * p + 1] + 0.5 * g);
    out[3 * p + 2] = Math.round(0.5 * base[3 * p + 2] + 0.5 * b);
  }
  return out;
}

/** A normalised [3, S, S] image (what the model sees) back to interleaved RGB bytes. */
export function chwToRgb(pixels: Float32Array, size: number, mean: readonly number[], std: readonly number[]): Buffer {
  const plane = size * size;
  const out = Buffer.alloc(3 * plane);
  for (let c = 0; c < 3; c++)
    for (let p = 0; p < plane; p++) out[3 * p + c] = Math.round(255 * Math.min(1, Math.max(0, pixels[c * plane + p] * std[c] + mean[c])));
  return out;
}
