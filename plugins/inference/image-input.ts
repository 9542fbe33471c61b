/**
 * What the inference API takes as an image — a file path, encoded bytes
 * (JPEG, PNG, WebP, ...) or decoded pixels — brought to the model's input the
 * way the evaluation pipeline does it (ALBEF's test transform: bicubic resize
 * to size × size, then the mean/std normalisation).
 */
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { DataError, type ImageTransformConfig, Rng, transformImage } from "../../core/index.ts";

/** Row-major pixels, `channels` interleaved (3: RGB, 4: RGBA, alpha ignored, 1: grey). */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

export type ImageInput = string | Uint8Array | DecodedImage;

/** A short name for an input, for errors and reports. */
export function describeImage(input: ImageInput, index: number): string {
  if (typeof input === "string") return input;
  if (input instanceof Uint8Array) return `image ${index} (${input.length} encoded bytes)`;
  return `image ${index} (${input.width}×${input.height}×${input.channels} pixels)`;
}

/** Encoded bytes of any input: a file read, bytes as they are, pixels as a lossless PNG (so they pass the same decoder). */
export async function encodedBytes(input: ImageInput, label: string): Promise<Uint8Array> {
  if (typeof input === "string") {
    try {
      return new Uint8Array(await readFile(input));
    } catch (e) {
      throw new DataError(`${label}: cannot read the image file: ${(e as Error).message}`);
    }
  }
  if (input instanceof Uint8Array) return input;
  const { data, width, height, channels } = input;
  if (![1, 3, 4].includes(channels) || !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new DataError(`${label}: decoded pixels need width, height ≥ 1 and 1, 3 or 4 channels`);
  }
  if (data.length !== width * height * channels) {
    throw new DataError(`${label}: ${data.length} bytes of pixels, expected width·height·channels = ${width * height * channels}`);
  }
  return new Uint8Array(await sharp(data, { raw: { width, height, channels } }).png({ compressionLevel: 0 }).toBuffer());
}

/** The model's input for one image: CHW float32 of size × size, as the evaluation pipeline makes it. */
export async function modelPixels(input: ImageInput, transform: ImageTransformConfig, label: string): Promise<Float32Array> {
  const bytes = await encodedBytes(input, label);
  // the test transform draws nothing; the stream is only the signature's
  return (await transformImage(bytes, { ...transform, mode: "test" }, new Rng(0), label)).pixels;
}
