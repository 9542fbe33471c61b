/** An 8-bit RGB image, interleaved, row-major (height × width × 3). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export function newRgb(width: number, height: number, fill = 0): RgbImage {
  return { data: new Uint8Array(width * height * 3).fill(fill), width, height };
}
