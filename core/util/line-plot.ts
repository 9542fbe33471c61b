/**
 * A small PNG line chart (pngjs): several series over a shared x axis, a
 * frame, min/max labels and a legend, drawn with a built-in 3×5 pixel font.
 */
import { PNG } from "pngjs";
import { writeFileAtomic } from "./atomic-file.ts";

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

export interface Series {
  name: string;
  points: [number, number][];
  colour: [number, number, number];
}

export function renderLinePlot(series: readonly Series[], opts: { width?: number; height?: number; title?: string } = {}): Buffer {
  const W = opts.width ?? 640;
  const H = opts.height ?? 400;
  const png = new PNG({ width: W, height: H });
  png.data.fill(255);
  const set = (x: number, y: number, c: [number, number, number]) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const i = (Math.round(y) * W + Math.round(x)) * 4;
    png.data[i] = c[0];
    png.data[i + 1] = c[1];
    png.data[i + 2] = c[2];
    png.data[i + 3] = 255;
  };
  const text = (s: string, x: number, y: number, c: [number, number, number] = [40, 40, 40], scale = 2) => {
    let cx = x;
    for (const ch of s.toLowerCase()) {
      const g = FONT[ch] ?? FONT[" "];
      for (let r = 0; r < 5; r++)
        for (let col = 0; col < 3; col++)
          if (g[r * 3 + col] === "1") for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) set(cx + col * scale + dx, y + r * scale + dy, c);
      cx += 4 * scale;
    }
  };
  const left = 70;
  const right = W - 20;
  const top = 40;
  const bottom = H - 40;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  const [y0, y1] = [Math.min(...ys, 0), Math.max(...ys, 1)];
  const px = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (right - left);
  const py = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * (bottom - top);
  for (let x = left; x <= right; x++) {
    set(x, bottom, [0, 0, 0]);
    set(x, top, [200, 200, 200]);
  }
  for (let y = top; y <= bottom; y++) {
    set(left, y, [0, 0, 0]);
    set(right, y, [200, 200, 200]);
  }
  text(y1.toFixed(2), 4, top - 4);
  text(y0.toFixed(2), 4, bottom - 8);
  text(String(Math.round(x0)), left, bottom + 8);
  text(String(Math.round(x1)), right - 8 * String(Math.round(x1)).length, bottom + 8);
  text("step", (left + right) / 2 - 16, bottom + 20);
  if (opts.title) text(opts.title, left, 10);
  series.forEach((s, k) => {
    for (let i = 1; i < s.points.length; i++) {
      const [ax, ay] = s.points[i - 1];
      const [bx, by] = s.points[i];
      if (!Number.isFinite(ay) || !Number.isFinite(by)) continue;
      const n = Math.max(Math.abs(px(bx) - px(ax)), Math.abs(py(by) - py(ay)), 1);
      for (let t = 0; t <= n; t++) {
        const x = px(ax) + ((px(bx) - px(ax)) * t) / n;
        const y = py(ay) + ((py(by) - py(ay)) * t) / n;
        set(x, y, s.colour);
        set(x, y + 1, s.colour);
      }
    }
    const lx = right - 150;
    const ly = top + 8 + k * 16;
    for (let dx = 0; dx < 20; dx++) for (let dy = 0; dy < 3; dy++) set(lx + dx, ly + 4 + dy, s.colour);
    text(s.name, lx + 26, ly, s.colour);
  });
  return PNG.sync.write(png);
}

export function writeLinePlot(file: string, series: readonly Series[], opts: { width?: number; height?: number; title?: string } = {}): void {
  writeFileAtomic(file, renderLinePlot(series, opts));
}
