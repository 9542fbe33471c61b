/**
 * A white RGB canvas that encodes to PNG (pngjs), with pixels, lines,
 * rectangles and a built-in 3×5 pixel font — what the line and bar charts draw with.
 */
import { PNG } from "pngjs";

export type Rgb = readonly [number, number, number];

const FONT: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001001001001",
  "8": "111101111101111",
  "9": "111101111001111",
  ".": "000000000000010",
  "-": "000000111000000",
  _: "000000000000111",
  ":": "000010000010000",
  " ": "000000000000000",
  a: "000011101101011",
  b: "100111101101111",
  c: "000111100100111",
  d: "001111101101111",
  e: "000111111100111",
  f: "011100110100100",
  g: "000111101111001",
  h: "100111101101101",
  i: "010000010010010",
  j: "001000001101111",
  k: "100101110101101",
  l: "100100100100111",
  m: "000111111101101",
  n: "000110101101101",
  o: "000111101101111",
  p: "000111101111100",
  q: "000111101111001",
  r: "000111100100100",
  s: "000111110011111",
  t: "010111010010011",
  u: "000101101101111",
  v: "000101101101010",
  w: "000101111111101",
  x: "000101010101101",
  y: "000101111001111",
  z: "000111010100111",
};

// glyphs beyond the digits and letters, for labels such as "r@1 (%)" or "a/b+c="
Object.assign(FONT, {
  "%": "101001010100101",
  "/": "001001010100100",
  "(": "010100100100010",
  ")": "010001001001010",
  "+": "000010111010000",
  "=": "000111000111000",
  "@": "111101111100111",
  ",": "000000000010100",
  "<": "001010100010001",
  ">": "100010001010100",
  "[": "110100100100110",
  "]": "011001001001011",
  "±": "010111010000111",
});

/** Colours for chart series (loss curves, variants), in order. */
const SERIES_COLOURS: readonly Rgb[] = [
  [40, 80, 220],
  [220, 60, 40],
  [40, 160, 60],
  [150, 60, 180],
  [230, 140, 20],
  [20, 150, 160],
];

export function seriesColour(i: number): Rgb {
  return SERIES_COLOURS[i % SERIES_COLOURS.length];
}

export class PngCanvas {
  private readonly png: PNG;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.png = new PNG({ width, height });
    this.png.data.fill(255);
  }

  set(x: number, y: number, c: Rgb): void {
    const px = Math.round(x);
    const py = Math.round(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return;
    const i = (py * this.width + px) * 4;
    this.png.data[i] = c[0];
    this.png.data[i + 1] = c[1];
    this.png.data[i + 2] = c[2];
    this.png.data[i + 3] = 255;
  }

  /** Text in the pixel font (lower case), top-left at (x, y); each glyph is 4·scale wide. */
  text(s: string, x: number, y: number, c: Rgb = [40, 40, 40], scale = 2): void {
    let cx = x;
    for (const ch of s.toLowerCase()) {
      const g = FONT[ch] ?? FONT[" "];
      for (let r = 0; r < 5; r++)
        for (let col = 0; col < 3; col++)
          if (g[r * 3 + col] === "1")
            for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) this.set(cx + col * scale + dx, y + r * scale + dy, c);
      cx += 4 * scale;
    }
  }

  static textWidth(s: string, scale = 2): number {
    return [...s].length * 4 * scale;
  }

  line(ax: number, ay: number, bx: number, by: number, c: Rgb, thickness = 1): void {
    const n = Math.max(Math.abs(bx - ax), Math.abs(by - ay), 1);
    for (let t = 0; t <= n; t++) {
      const x = ax + ((bx - ax) * t) / n;
      const y = ay + ((by - ay) * t) / n;
      for (let k = 0; k < thickness; k++) this.set(x, y + k, c);
    }
  }

  fillRect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    for (let y = Math.round(Math.min(y0, y1)); y <= Math.round(Math.max(y0, y1)); y++)
      for (let x = Math.round(Math.min(x0, x1)); x <= Math.round(Math.max(x0, x1)); x++) this.set(x, y, c);
  }

  /** The plot frame: black left and bottom axes, grey top and right. */
  frame(left: number, top: number, right: number, bottom: number): void {
    this.line(left, bottom, right, bottom, [0, 0, 0]);
    this.line(left, top, right, top, [200, 200, 200]);
    this.line(left, top, left, bottom, [0, 0, 0]);
    this.line(right, top, right, bottom, [200, 200, 200]);
  }

  toPng(): Buffer {
    return PNG.sync.write(this.png);
  }
}
