/**
 * Figures compared across variants: one small panel per figure (each its own
 * y scale, as a loss and a recall in % share no axis), a bar per variant with
 * a whisker of ± its spread and the value above.
 */
import type { TopLevelSpec } from "vega-lite";
import { seriesColour } from "./palette.ts";

export interface BarSeries {
  name: string;
  /** one value per figure; null: no bar */
  values: readonly (number | null)[];
  /** half-length of the whisker per figure (e.g. the standard deviation); null: none */
  spread?: readonly (number | null)[];
  colour?: string;
}

export interface BarChartOptions {
  title?: string;
  /** panels per row (default 4) */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

export function barChart(figures: readonly string[], series: readonly BarSeries[], opts: BarChartOptions = {}): TopLevelSpec {
  const values = series.flatMap((s) =>
    figures.flatMap((figure, i) => {
      const v = s.values[i];
      if (v === null || !Number.isFinite(v)) return [];
      const spread = Math.max(0, s.spread?.[i] ?? 0);
      return [{ figure, variant: s.name, value: v, low: v - spread, high: v + spread }];
    }),
  );
  const names = series.map((s) => s.name);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    data: { values },
    columns: opts.columns ?? 4,
    facet: { field: "figure", type: "nominal", title: null, sort: [...figures], header: { labelFontSize: 12, labelLimit: 220 } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: opts.panelWidth ?? Math.max(90, 36 * series.length),
      height: opts.panelHeight ?? 160,
      encoding: { x: { field: "variant", type: "nominal", title: null, sort: names, axis: null } },
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            y: { field: "value", type: "quantitative", title: null },
            color: { field: "variant", type: "nominal", title: null, scale: { domain: names, range: series.map((s, i) => s.colour ?? seriesColour(i)) } },
          },
        },
        { mark: { type: "rule", color: "#222" }, encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } } },
        {
          mark: { type: "text", dy: -6, fontSize: 10, color: "#222" },
          encoding: { y: { field: "high", type: "quantitative" }, text: { field: "value", type: "quantitative", format: ".3~g" } },
        },
      ],
    },
  };
}
