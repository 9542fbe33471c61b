/**
 * Charts are Vega-Lite specifications, compiled to Vega and rendered
 * headless to SVG (no browser, no canvas); PNG comes from that SVG through
 * sharp (librsvg). The same SVG goes inline into the run report.
 */
import sharp from "sharp";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { writeFileAtomic } from "../util/atomic-file.ts";

export type { TopLevelSpec } from "vega-lite";

/** The font every chart uses: DejaVu Sans where installed (Debian's fonts-dejavu-core), else the system's sans-serif. */
export const CHART_FONT = "DejaVu Sans, sans-serif";

const CONFIG = { font: CHART_FONT, background: "white", padding: 8 } as const;

/** The chart as an SVG document. */
export async function chartSvg(spec: TopLevelSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...CONFIG, ...spec.config } } as TopLevelSpec;
  const view = new View(parse(compile(withConfig).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG to PNG at `scale` pixels per SVG unit (2: sharp on high-density screens). */
export function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .png()
    .toBuffer();
}

/** Writes the chart as PNG to `file` (atomically) and returns its SVG. */
export async function writeChart(file: string, spec: TopLevelSpec, scale = 2): Promise<string> {
  const svg = await chartSvg(spec);
  writeFileAtomic(file, await svgToPng(svg, scale));
  return svg;
}
