/**
 * A small PNG line chart: several series over a shared x axis, a frame,
 * min/max labels and a legend.
 */
import { writeFileAtomic } from "./atomic-file.ts";
import { PngCanvas } from "./png-canvas.ts";

export interface Series {
  name: string;
  points: [number, number][];
  colour: [number, number, number];
}

export function renderLinePlot(series: readonly Series[], opts: { width?: number; height?: number; title?: string; xLabel?: string } = {}): Buffer {
  const W = opts.width ?? 640;
  const H = opts.height ?? 400;
  const canvas = new PngCanvas(W, H);
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
  canvas.frame(left, top, right, bottom);
  canvas.text(y1.toFixed(2), 4, top - 4);
  canvas.text(y0.toFixed(2), 4, bottom - 8);
  canvas.text(String(Math.round(x0)), left, bottom + 8);
  canvas.text(String(Math.round(x1)), right - 8 * String(Math.round(x1)).length, bottom + 8);
  const xLabel = opts.xLabel ?? "step";
  canvas.text(xLabel, (left + right) / 2 - PngCanvas.textWidth(xLabel) / 2, bottom + 20);
  if (opts.title) canvas.text(opts.title, left, 10);
  series.forEach((s, k) => {
    for (let i = 1; i < s.points.length; i++) {
      const [ax, ay] = s.points[i - 1];
      const [bx, by] = s.points[i];
      if (!Number.isFinite(ay) || !Number.isFinite(by)) continue;
      canvas.line(px(ax), py(ay), px(bx), py(by), s.colour, 2);
    }
    const lx = right - 150;
    const ly = top + 8 + k * 16;
    canvas.fillRect(lx, ly + 4, lx + 19, ly + 6, s.colour);
    canvas.text(s.name, lx + 26, ly, s.colour);
  });
  return canvas.toPng();
}

export function writeLinePlot(file: string, series: readonly Series[], opts: { width?: number; height?: number; title?: string; xLabel?: string } = {}): void {
  writeFileAtomic(file, renderLinePlot(series, opts));
}
