/**
 * The grounding run's pictures for its report page (`gallery/`): an
 * expression's Grad-CAM map over the image the model saw, with the annotated
 * box (solid green) and the candidate the map picked (dashed: orange when it
 * misses, IoU < 0.5; white when it hits).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { GALLERY_DIR, type GalleryIndex, heatOverlay, writeFileAtomic } from "../../../core/index.ts";
import type { Box } from "./boxes.ts";

const SIDE = 256;

export interface GalleryItem {
  /** the model's input image as RGB bytes, size × size */
  rgb: Uint8Array;
  size: number;
  map: Float32Array;
  grid: number;
  expression: string;
  /** the boxes in the original image's pixels, and its size */
  truth: Box;
  chosen: Box;
  width: number;
  height: number;
  iou: number;
}

/** One picture, PNG, SIDE × SIDE: the map scaled to its own largest value. */
export async function groundingPicture(item: GalleryItem): Promise<Buffer> {
  const base = await sharp(item.rgb, { raw: { width: item.size, height: item.size, channels: 3 } })
    .resize(SIDE, SIDE, { kernel: "cubic", fit: "fill" })
    .raw()
    .toBuffer();
  const peak = Math.max(1e-12, ...item.map);
  const blended = await heatOverlay(item.map, item.grid, peak, base, SIDE);
  const sx = SIDE / item.width;
  const sy = SIDE / item.height;
  const rect = (b: Box, style: string) =>
    `<rect x="${(b[0] * sx).toFixed(1)}" y="${(b[1] * sy).toFixed(1)}" width="${(b[2] * sx).toFixed(1)}" height="${(b[3] * sy).toFixed(1)}" fill="none" ${style}/>`;
  const hit = item.iou >= 0.5;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIDE}" height="${SIDE}">
    ${rect(item.truth, 'stroke="#00d000" stroke-width="3"')}
    ${rect(item.chosen, `stroke="${hit ? "#ffffff" : "#ff8c00"}" stroke-width="2.5" stroke-dasharray="7 4"`)}
  </svg>`;
  return sharp(blended, { raw: { width: SIDE, height: SIDE, channels: 3 } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

/** Collects up to `limit` pictures and writes them with `gallery/index.json` into the run folder. */
export class GroundingGallery {
  private readonly items: { file: string; caption: string; png: Promise<Buffer> }[] = [];

  constructor(
    private readonly runDir: string,
    readonly limit: number,
    private readonly mode: string,
  ) {}

  get full(): boolean {
    return this.items.length >= this.limit;
  }

  add(item: GalleryItem): void {
    if (this.full) return;
    const n = this.items.length;
    this.items.push({
      file: `${String(n).padStart(3, "0")}.png`,
      caption: `“${item.expression}” — IoU ${item.iou.toFixed(2)}${item.iou >= 0.5 ? " (hit)" : " (miss)"}`,
      png: groundingPicture({ ...item, rgb: item.rgb.slice(), map: item.map.slice() }),
    });
  }

  async write(): Promise<void> {
    if (this.items.length === 0) return;
    const dir = join(this.runDir, GALLERY_DIR);
    mkdirSync(dir, { recursive: true });
    for (const it of this.items) writeFileAtomic(join(dir, it.file), await it.png);
    const index: GalleryIndex = {
      title: `Grad-CAM (${this.mode.toUpperCase()}) of the first ${this.items.length} expressions`,
      note:
        "Each map is drawn over the image at the model's input size, scaled to its own peak (jet, 50 %). " +
        "Solid green: the annotated box. Dashed: the candidate box the map picked — white when IoU ≥ 0.5, orange when not.",
      items: this.items.map(({ file, caption }) => ({ file, caption })),
    };
    writeFileAtomic(join(dir, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
  }
}
