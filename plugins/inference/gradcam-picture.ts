/**
 * A Grad-CAM picture a person can read: the image, the image under the whole
 * text's map, a colour bar, and a grid of one panel per word piece, each
 * labelled. Maps are upsampled bicubically to the image (as ALBEF's notebook
 * does with skimage), coloured with the jet map and blended at 50 %; labels
 * are SVG text rendered by sharp (librsvg), the colour bar a chart (core/plot).
 * Every map is scaled by the largest value over all panels, so that panels compare.
 */
import sharp from "sharp";
import { chartSvg, colourBar, escapeMarkup, heatOverlay, JET_COLOURS, svgToPng } from "../../core/index.ts";
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

/** The picture as PNG bytes. `image`: the encoded image the maps are of. */
export async function gradCamPicture(image: Uint8Array, cam: GradCamResult, opts: PictureOptions = {}): Promise<Buffer> {
  const size = opts.panel ?? 224;
  const columns = Math.max(1, opts.columns ?? 4);
  const base = await sharp(image).removeAlpha().resize(size, size, { fit: "fill", kernel: "cubic" }).raw().toBuffer();
  const all = [cam.whole, ...cam.words.map((w) => w.map)];
  const scale = Math.max(1e-12, ...all.map((m) => m.reduce((a, v) => Math.max(a, v), 0)));
  const cell = size + LABEL + PAD;
  const bar = await svgToPng(await chartSvg(colourBar({ colours: JET_COLOURS, max: scale, height: size })), 1);
  const barWidth = (await sharp(bar).metadata()).width ?? 64;
  const wholeLabel = `whole text (${cam.mode.toUpperCase()}, ${cam.mode === "itm" ? "fusion layer" : "ViT block"} ${cam.layer})`;
  // the colour bar after the second panel, or after its label where that is wider (≈ 7.2 px a character of DejaVu Sans at 14 px)
  const barLeft = PAD + size + PAD + Math.max(size + PAD, Math.ceil(wholeLabel.length * 7.2) + PAD);
  const topWidth = barLeft + barWidth;
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
  panels.push({ input: await raw(await heatOverlay(cam.whole, cam.grid, scale, base, size)), left: PAD + size + PAD, top });
  labels.push(label(PAD + size + PAD, top - 6, wholeLabel));
  for (let i = 0; i < cam.words.length; i++) {
    const w = cam.words[i];
    const left = PAD + (i % columns) * (size + PAD);
    const y = titleHeight + cell + Math.floor(i / columns) * cell + LABEL;
    panels.push({ input: await raw(await heatOverlay(w.map, cam.grid, scale, base, size)), left, top: y });
    labels.push(label(left, y - 6, w.token));
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <text x="${PAD}" y="20" font-family="DejaVu Sans, sans-serif" font-size="15" font-weight="bold">${escapeMarkup(opts.title ?? cam.text)}</text>
    ${labels.join("\n")}
  </svg>`;
  return sharp({ create: { width, height, channels: 3, background: "#ffffff" } })
    .composite([...panels, { input: bar, left: barLeft, top: top - 2 }, { input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

function label(x: number, y: number, text: string): string {
  return `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" font-size="14">${escapeMarkup(text)}</text>`;
}
