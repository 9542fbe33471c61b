/** Several series over a shared x axis (loss curves, per-step figures): axis ticks, a legend, a title. */
import type { TopLevelSpec } from "vega-lite";
import { seriesColour } from "./palette.ts";

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
  /** CSS colour (default: the palette's, in order) */
  colour?: string;
}

export interface LineChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  width?: number;
  height?: number;
}

export function lineChart(series: readonly LineSeries[], opts: LineChartOptions = {}): TopLevelSpec {
  const values = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => ({ x, y, series: s.name })));
  // a few points: marked, so that a series of one step still shows
  const longest = Math.max(0, ...series.map((s) => s.points.length));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    width: opts.width ?? 560,
    height: opts.height ?? 300,
    data: { values },
    mark: { type: "line", point: longest <= 20, strokeWidth: 2 },
    encoding: {
      x: { field: "x", type: "quantitative", title: opts.xTitle ?? "step", scale: { nice: false } },
      y: { field: "y", type: "quantitative", title: opts.yTitle ?? "value", scale: { zero: false } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        legend: { labelLimit: 400 },
        sort: series.map((s) => s.name),
        scale: { domain: series.map((s) => s.name), range: series.map((s, i) => s.colour ?? seriesColour(i)) },
      },
    },
  };
}
