/**
 * ALBEF's image transforms, from encoded bytes to a normalised float32 CHW
 * array. Train: RandomResizedCrop (bicubic) → horizontal flip → RandAugment;
 * test: resize to size × size (bicubic, aspect not kept). Then ToTensor and
 * the CLIP mean/std. Crop, resize and flip run in libvips (sharp); the
 * RandAugment ops and the normalisation in JS.
 */
import { z } from "zod";
import type { Rng } from "../../tensor/rng.ts";
import { imageSize, sharpRgb, toRgb } from "./decode.ts";
import { imageOps } from "./image-ops.ts";
import { randomResizedCropBox } from "./random-resized-crop.ts";
import { ALBEF_AUGMENTATIONS, randAugment } from "./randaugment.ts";
import type { RgbImage } from "./rgb.ts";

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export const ImageTransformConfig = z.strictObject({
  size: z.number().int().positive().default(256),
  mode: z.enum(["train", "test"]).default("train"),
  /** RandomResizedCrop area fraction (ALBEF pre-training: 0.2–1; fine-tuning 0.5–1) */
  scale: z.tuple([z.number().gt(0), z.number().lte(1)]).default([0.2, 1]),
  ratio: z.tuple([z.number().gt(0), z.number().gt(0)]).default([3 / 4, 4 / 3]),
  hflip: z.number().min(0).max(1).default(0.5),
  /** RandAugment N, M (ALBEF: 2, 7); null = off */
  randAugment: z
    .strictObject({ n: z.number().int().min(0).default(2), m: z.number().min(0).max(10).default(7) })
    .nullable()
    .default({ n: 2, m: 7 }),
  mean: z.tuple([z.number(), z.number(), z.number()]).default([...CLIP_MEAN]),
  std: z.tuple([z.number().gt(0), z.number().gt(0), z.number().gt(0)]).default([...CLIP_STD]),
  /** refuse decoding images larger than this many pixels */
  maxPixels: z.number().int().positive().default(50_000_000),
});
export type ImageTransformConfig = z.output<typeof ImageTransformConfig>;

/** HWC uint8 → CHW float32, (v / 255 − mean) / std. */
export function normalizeToChw(img: RgbImage, mean: readonly number[], std: readonly number[], out?: Float32Array): Float32Array {
  const n = img.width * img.height;
  const dst = out ?? new Float32Array(3 * n);
  const scale = Float64Array.from([0, 1, 2], (c) => 1 / (255 * std[c]));
  const shift = Float64Array.from([0, 1, 2], (c) => mean[c] / std[c]);
  imageOps().normalizeChw(img.data, dst, scale, shift);
  return dst;
}

export interface TransformedImage {
  pixels: Float32Array;
  /** what happened, for debugging and specs */
  info: {
    source: { width: number; height: number };
    crop?: { left: number; top: number; width: number; height: number };
    flipped: boolean;
    augmentations: string[];
  };
}

export async function transformImage(bytes: Uint8Array, cfg: ImageTransformConfig, rng: Rng, label: string): Promise<TransformedImage> {
  const source = await imageSize(bytes, label, { maxPixels: cfg.maxPixels });
  let pipeline = sharpRgb(bytes, { maxPixels: cfg.maxPixels });
  let crop: TransformedImage["info"]["crop"];
  let flipped = false;
  if (cfg.mode === "train") {
    crop = randomResizedCropBox(source.width, source.height, rng, cfg.scale, cfg.ratio);
    pipeline = pipeline.extract(crop);
  }
  pipeline = pipeline.resize(cfg.size, cfg.size, { fit: "fill", kernel: "cubic" });
  if (cfg.mode === "train" && rng.uniform() < cfg.hflip) {
    pipeline = pipeline.flop();
    flipped = true;
  }
  let rgb = await toRgb(pipeline, label);
  let augmentations: string[] = [];
  if (cfg.mode === "train" && cfg.randAugment && cfg.randAugment.n > 0) {
    const r = randAugment(rgb, rng, { n: cfg.randAugment.n, m: cfg.randAugment.m, ops: ALBEF_AUGMENTATIONS });
    rgb = r.image;
    augmentations = r.applied;
  }
  return { pixels: normalizeToChw(rgb, cfg.mean, cfg.std), info: { source, crop, flipped, augmentations } };
}
