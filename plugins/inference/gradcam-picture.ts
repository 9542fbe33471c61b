/**
 * A Grad-CAM picture a person can read: the image, the image under the whole
 * text's map, a colour bar, and a grid of one panel per word piece, each
 * labelled. Maps are upsampled bicubically to the image (as ALBEF's notebook
 * does with skimage), coloured with the jet map and blended at 50 %; labels
 * are SVG text rendered by sharp (librsvg). Every map is scaled by the largest
 * value over all panels, so that panels compare.
 */
import sharp from "sharp";
import type { GradCamResult } from "./polyalign-model.ts";

export interface PictureOptions {
  /** panel side in pixels (default 224) */
  panel?: number;
  /** word panels per row (default 4) */
  columns?: number;
  /** the title line (default: the text) */
  title?: string;
}

const PAD = 8;
const LABEL = 22;

/** Jet colour of t in [0, 1] (matplotlib's "jet" breakpoints). */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A map (grid × grid) as an RGB panel of side `size`, blended over `base` (RGB of size × size). */
async function overlay(map: Float32Array, grid: number, scale: number, base: Buffer, size: number): Promise<Buffer> {
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

function colourBar(height: number, scale: number): string {
  const stops = Array.from({ length: 11 }, (_, i) => {
    const [r, g, b] = jet(1 - i / 10);
    return `<stop offset="${i * 10}%" stop-color="rgb(${r},${g},${b})"/>`;
  }).join("");
  const ticks = [0, 0.5, 1]
    .map((t) => {
      const y = LABEL + (1 - t) * (height - LABEL);
      return `<text x="22" y="${y + 4}" font-family="DejaVu Sans, sans-serif" font-size="11">${(t * scale).toPrecision(2)}</text>`;
    })
    .join("");
  return `<defs><linearGradient id="bar" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient></defs>
    <rect x="4" y="${LABEL}" width="14" height="${height - LABEL}" fill="url(#bar)" stroke="#444" stroke-width="0.5"/>${ticks}`;
}

/** The picture as PNG bytes. `image`: the encoded image the maps are of. */
export async function gradCamPicture(image: Uint8Array, cam: GradCamResult, opts: PictureOptions = {}): Promise<Buffer> {
  const size = opts.panel ?? 224;
  const columns = Math.max(1, opts.columns ?? 4);
  const base = await sharp(image).removeAlpha().resize(size, size, { fit: "fill", kernel: "cubic" }).raw().toBuffer();
  const all = [cam.whole, ...cam.words.map((w) => w.map)];
  const scale = Math.max(1e-12, ...all.map((m) => m.reduce((a, v) => Math.max(a, v), 0)));
  const cell = size + LABEL + PAD;
  const barWidth = 64;
  const wholeLabel = `whole text (${cam.mode.toUpperCase()}, ${cam.mode === "itm" ? "fusion layer" : "ViT block"} ${cam.layer})`;
  // the colour bar after the second panel, or after its label where that is wider (≈ 7.2 px a character of DejaVu Sans at 14 px)
  const barLeft = PAD + size + PAD + Math.max(size + PAD, Math.ceil(wholeLabel.length * 7.2) + PAD);
  const topWidth = barLeft + barWidth - PAD;
  const rows = Math.ceil(cam.words.length / columns);
  const width = Math.max(topWidth, columns * (size + PAD)) + PAD;
  const titleHeight = 30;
  const height = titleHeight + cell + rows * cell + PAD;
  const panels: { input: Buffer; left: number; top: number }[] = [];
  const labels: string[] = [];
  const raw = (buf: Buffer) =>
    sharp(buf, { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toBuffer();
  const top = titleHeight + LABEL;
  panels.push({ input: await raw(base), left: PAD, top });
  labels.push(label(PAD, top - 6, "image"));
  panels.push({ input: await raw(await overlay(cam.whole, cam.grid, scale, base, size)), left: PAD + size + PAD, top });
  labels.push(label(PAD + size + PAD, top - 6, wholeLabel));
  for (let i = 0; i < cam.words.length; i++) {
    const w = cam.words[i];
    const left = PAD + (i % columns) * (size + PAD);
    const y = titleHeight + cell + Math.floor(i / columns) * cell + LABEL;
    panels.push({ input: await raw(await overlay(w.map, cam.grid, scale, base, size)), left, top: y });
    labels.push(label(left, y - 6, w.token));
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <text x="${PAD}" y="20" font-family="DejaVu Sans, sans-serif" font-size="15" font-weight="bold">${escapeXml(opts.title ?? cam.text)}</text>
    ${labels.join("\n")}
    <g transform="translate(${barLeft}, ${titleHeight})">${colourBar(size + LABEL, scale)}</g>
  </svg>`;
  return sharp({ create: { width, height, channels: 3, background: "#ffffff" } })
    .composite([...panels, { input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

function label(x: number, y: number, text: string): string {
  return `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" font-size="14">${escapeXml(text)}</text>`;
}
