/**
 * Decoding image bytes to 8-bit RGB with sharp (libvips): JPEG (incl.
 * grayscale and CMYK), PNG (alpha dropped), WebP, ... A pixel limit guards
 * against decompression bombs; a truncated or corrupt file is an error.
 */
import sharp, { type Sharp } from "sharp";
import { PolyalignError } from "../../errors.ts";
import type { RgbImage } from "./rgb.ts";

export class ImageDecodeError extends PolyalignError {}

export interface DecodeOptions {
  /** refuse images with more pixels than this (default 50 MP) */
  maxPixels?: number;
}

/** sharp for these bytes, RGB out; `label` names the sample in errors. */
export function sharpRgb(bytes: Uint8Array, opts: DecodeOptions = {}): Sharp {
  return sharp(bytes, { limitInputPixels: opts.maxPixels ?? 50_000_000, failOn: "warning" })
    .toColourspace("srgb")
    .removeAlpha();
}

export async function imageSize(bytes: Uint8Array, label: string, opts: DecodeOptions = {}): Promise<{ width: number; height: number }> {
  try {
    const m = await sharp(bytes, { limitInputPixels: opts.maxPixels ?? 50_000_000 }).metadata();
    if (!m.width || !m.height) throw new Error("no image dimensions");
    const max = opts.maxPixels ?? 50_000_000;
    if (m.width * m.height > max) throw new Error(`${m.width}×${m.height} exceeds the pixel limit ${max}`);
    return { width: m.width, height: m.height };
  } catch (e) {
    throw new ImageDecodeError(`${label}: cannot read the image: ${(e as Error).message}`);
  }
}

/** Raw RGB of a sharp pipeline, checked to have 3 channels. */
export async function toRgb(pipeline: Sharp, label: string): Promise<RgbImage> {
  try {
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    throw new ImageDecodeError(`${label}: cannot decode the image: ${(e as Error).message}`);
  }
}

export async function decodeImage(bytes: Uint8Array, label: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  await imageSize(bytes, label, opts);
  return toRgb(sharpRgb(bytes, opts), label);
}
