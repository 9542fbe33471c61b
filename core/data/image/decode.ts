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

/**
 * Width and height from a JPEG's frame header or a PNG's IHDR, read in place (what libvips
 * would report, without its thread hop: ~2 ms a sample); null for other formats or a header
 * that does not parse, which are left to sharp.
 */
export function headerSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[12] === 0x49 && b[13] === 0x48) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // no length
      continue;
    }
    const length = (b[i + 2] << 8) | b[i + 3];
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (b[i + 5] << 8) | b[i + 6];
      const width = (b[i + 7] << 8) | b[i + 8];
      return width > 0 && height > 0 ? { width, height } : null;
    }
    if (marker === 0xda || length < 2) return null; // scan data before a frame header: let libvips judge
    i += 2 + length;
  }
  return null;
}

export async function imageSize(bytes: Uint8Array, label: string, opts: DecodeOptions = {}): Promise<{ width: number; height: number }> {
  try {
    const m = headerSize(bytes) ?? (await sharp(bytes, { limitInputPixels: opts.maxPixels ?? 50_000_000 }).metadata());
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
