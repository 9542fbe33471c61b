/**
 * A small PNG grouped bar chart with error bars: one group per label, one bar
 * per series in each group, a whisker of ± the series' spread, the value above.
 */
import { writeFileAtomic } from "./atomic-file.ts";
import { PngCanvas, type Rgb } from "./png-canvas.ts";

export interface BarSeries {
  name: string;
  colour: Rgb;
  /** one value per group label; null: no bar */
  values: readonly (number | null)[];
  /** half-length of the error bar per group (e.g. the standard deviation); null: none */
  spread?: readonly (number | null)[];
}

export interface BarPlotOptions {
  title?: string;
  width?: number;
  height?: number;
}

export function renderBarPlot(groups: readonly string[], series: readonly BarSeries[], opts: BarPlotOptions = {}): Buffer {
  const W = opts.width ?? Math.max(480, 60 + groups.length * (40 + series.length * 36));
  const H = opts.height ?? 420;
  const canvas = new PngCanvas(W, H);
  const left = 70;
  const right = W - 20;
  const top = 60;
  const bottom = H - 70;
  const tops = series.flatMap((s) => s.values.map((v, i) => (v === null ? 0 : v + Math.max(0, s.spread?.[i] ?? 0))));
  const lows = series.flatMap((s) => s.values.map((v, i) => (v === null ? 0 : v - Math.max(0, s.spread?.[i] ?? 0))));
  const y1 = Math.max(...tops, 1e-9) * 1.1;
  const y0 = Math.min(0, ...lows);
  const py = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * (bottom - top);
  canvas.frame(left, top, right, bottom);
  canvas.text(y1.toPrecision(3), 4, top - 4);
  canvas.text(y0.toFixed(0), 4, bottom - 8);
  if (opts.title) canvas.text(opts.title, left, 10);
  series.forEach((s, k) => {
    const lx = left + 10 + k * 170;
    canvas.fillRect(lx, 34, lx + 12, 44, s.colour);
    canvas.text(s.name, lx + 18, 35, s.colour);
  });
  const groupWidth = (right - left) / Math.max(1, groups.length);
  const barWidth = Math.max(6, Math.min(36, (groupWidth - 20) / Math.max(1, series.length)));
  groups.forEach((label, g) => {
    const gx = left + g * groupWidth + (groupWidth - barWidth * series.length) / 2;
    series.forEach((s, k) => {
      const v = s.values[g];
      if (v === null || !Number.isFinite(v)) return;
      const x0 = gx + k * barWidth + 1;
      const x1 = x0 + barWidth - 3;
      canvas.fillRect(x0, py(0), x1, py(v), s.colour);
      const spread = s.spread?.[g];
      const mid = (x0 + x1) / 2;
      if (spread != null && spread > 0) {
        canvas.line(mid, py(v + spread), mid, py(v - spread), [0, 0, 0]);
        canvas.line(mid - 3, py(v + spread), mid + 3, py(v + spread), [0, 0, 0]);
        canvas.line(mid - 3, py(v - spread), mid + 3, py(v - spread), [0, 0, 0]);
      }
      const text = v.toPrecision(3);
      canvas.text(text, mid - PngCanvas.textWidth(text, 1) / 2, py(v + (spread ?? 0)) - 9, [40, 40, 40], 1);
    });
    const short = label.length > Math.floor(groupWidth / 8) ? label.slice(0, Math.max(3, Math.floor(groupWidth / 8))) : label;
    canvas.text(short, left + g * groupWidth + groupWidth / 2 - PngCanvas.textWidth(short) / 2, bottom + 10 + (g % 2) * 16);
  });
  return canvas.toPng();
}

export function writeBarPlot(file: string, groups: readonly string[], series: readonly BarSeries[], opts: BarPlotOptions = {}): void {
  writeFileAtomic(file, renderBarPlot(groups, series, opts));
}
