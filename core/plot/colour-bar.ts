/** A vertical colour bar with an axis: what a heat map's colours mean (Grad-CAM pictures). */
import type { TopLevelSpec } from "vega-lite";

export interface ColourBarOptions {
  /** the colours from the lowest value to the highest, evenly spaced */
  colours: readonly string[];
  min?: number;
  max: number;
  height: number;
  title?: string;
}

export function colourBar(opts: ColourBarOptions): TopLevelSpec {
  const min = opts.min ?? 0;
  const steps = 64;
  const at = (i: number) => min + ((opts.max - min) * i) / steps;
  const values = Array.from({ length: steps }, (_, i) => ({ from: at(i), to: at(i + 1), mid: (at(i) + at(i + 1)) / 2 }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 14,
    height: opts.height,
    data: { values },
    mark: { type: "rect" },
    encoding: {
      y: {
        field: "from",
        type: "quantitative",
        scale: { domain: [min, opts.max], nice: false, zero: false },
        axis: { orient: "right", tickCount: 5, format: Math.abs(opts.max) < 1e-2 ? ".1e" : ".2~g", title: opts.title ?? null, grid: false },
      },
      y2: { field: "to" },
      color: { field: "mid", type: "quantitative", scale: { domain: [min, opts.max], range: [...opts.colours] }, legend: null },
    },
    config: { view: { stroke: "#444" }, padding: 2 },
  };
}
