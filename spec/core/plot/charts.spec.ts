/**
 * Charts through Vega-Lite: the SVG carries the title, axis titles and ticks,
 * and the legend; the PNG is the SVG rasterised at the asked scale; bad
 * points are left out rather than drawn.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { barChart, chartSvg, colourBar, JET_COLOURS, lineChart, svgToPng } from "../../../core/index.ts";

/** the text of every <text> element, in order */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe("core/plot: charts (Vega-Lite → SVG → PNG)", function () {
  this.timeout(60000);

  it("a line chart has its title, axis titles, ticks along both axes and a legend entry per series", async () => {
    const svg = await chartSvg(
      lineChart(
        [
          { name: "loss", points: Array.from({ length: 50 }, (_, i) => [i * 10, 5 - i / 10] as const) },
          { name: "itc", points: Array.from({ length: 50 }, (_, i) => [i * 10, i === 7 ? Number.NaN : 2 - i / 50] as const) },
        ],
        { title: "training loss", yTitle: "loss" },
      ),
    );
    const t = texts(svg);
    for (const want of ["training loss", "step", "loss", "itc"]) assert.ok(t.includes(want), `${want} in ${t.join("|")}`);
    // ticks: several numbers along x (0 … 490) and y (≈ 0 … 5)
    const numbers = t.filter((s) => /^[0-9.,]+$/.test(s)).map((s) => Number(s.replace(/,/g, "")));
    assert.ok(numbers.filter((v) => v >= 100).length >= 3, `x ticks: ${numbers}`);
    assert.ok(numbers.filter((v) => v <= 5).length >= 3, `y ticks: ${numbers}`);
    assert.doesNotMatch(svg, /NaN/, "a NaN point is left out");
  });

  it("a bar chart has one panel per figure with its own scale, the values above the bars and the variants in the legend", async () => {
    const svg = await chartSvg(
      barChart(
        ["ITM loss", "R mean %"],
        [
          { name: "cross-attention", values: [0.4, 62.8], spread: [0.05, 1.5] },
          { name: "hypergraph", values: [0.34, null] },
        ],
        { title: "pretrain" },
      ),
    );
    const t = texts(svg);
    for (const want of ["pretrain", "ITM loss", "R mean %", "cross-attention", "hypergraph", "0.4", "62.8", "0.34"])
      assert.ok(t.includes(want), `${want} in ${t.join("|")}`);
    // independent scales: the loss panel's axis stops below 1, the recall panel's goes past 60
    assert.ok(t.includes("0.4") && t.some((s) => Number(s) >= 60));
    assert.equal((svg.match(/role-mark bar|class="mark-rect role-mark/g) ?? []).length > 0, true, "bars drawn");
  });

  it("PNG: the SVG rasterised at twice its size; a colour bar spans its colours with a labelled axis", async () => {
    const svg = await chartSvg(colourBar({ colours: JET_COLOURS, max: 2e-5, height: 100 }));
    const t = texts(svg);
    assert.ok(t.includes("0.0e+0") && t.some((s) => /^2\.0e-5$/.test(s)), `ticks ${t}`);
    const width = Number(/<svg[^>]* width="(\d+)"/.exec(svg)?.[1]);
    const height = Number(/<svg[^>]* height="(\d+)"/.exec(svg)?.[1]);
    const meta = await sharp(await svgToPng(svg, 2)).metadata();
    assert.equal(meta.width, 2 * width);
    assert.equal(meta.height, 2 * height);
  });
});
