/**
 * runs/<name>/report.html: one self-contained page per run — the summary the
 * task wrote (summary.md, rendered by marked), the figures (inline SVG: the
 * losses, the per-layer fusion figures, the learning rate, the model
 * selection's scores), a gallery of the pictures a task left in `gallery/`
 * (grounding: Grad-CAM maps) and the effective config. Nothing is fetched:
 * styles, charts and pictures are inside the file, so it opens offline and
 * can be mailed or archived alone.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Marked } from "marked";
import { parse as parseYaml } from "yaml";
import { lineChart } from "../plot/line-chart.ts";
import { chartSvg } from "../plot/render-chart.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";
import { escapeMarkup } from "../util/escape-markup.ts";
import { lossChart, metricSeries, readMetricRows } from "./run-report.ts";

/** What a task leaves in `<run>/gallery/index.json` for the page: pictures (PNG, beside it) with their captions. */
export interface GalleryIndex {
  title: string;
  /** a sentence under the title: what the pictures show */
  note?: string;
  items: { file: string; caption: string }[];
}

export const GALLERY_DIR = "gallery";

const DIAGNOSTIC = /_layer\d+$/;

function readText(file: string): string | null {
  return existsSync(file) ? readFileSync(file, "utf8") : null;
}

async function figures(runDir: string, objectives: readonly string[], summary: Record<string, unknown> | null): Promise<{ title: string; svg: string }[]> {
  const rows = readMetricRows(runDir);
  const out: { title: string; svg: string }[] = [];
  const keys = new Set(rows.flatMap((r) => Object.keys(r)));
  if (rows.length > 0) {
    const losses = lossChart(rows, objectives);
    if (losses) out.push({ title: "Training loss", svg: await chartSvg(losses) });
    const diagnostics = [...keys].filter((k) => DIAGNOSTIC.test(k)).sort();
    if (diagnostics.length > 0)
      out.push({
        title: "Fusion figures per layer",
        svg: await chartSvg(
          lineChart(
            diagnostics.map((k) => ({ name: k, points: metricSeries(rows, k) })),
            { title: "fusion figures per layer", yTitle: "value" },
          ),
        ),
      });
    if (keys.has("lr"))
      out.push({
        title: "Learning rate",
        svg: await chartSvg(lineChart([{ name: "lr", points: metricSeries(rows, "lr") }], { title: "learning rate", yTitle: "lr" })),
      });
  }
  const selection = summary?.selection as { metric: string; by_epoch: { epoch: number; score: number }[] } | undefined;
  if (selection && selection.by_epoch.length > 0)
    out.push({
      title: "Model selection",
      svg: await chartSvg(
        lineChart([{ name: selection.metric, points: selection.by_epoch.map((e) => [e.epoch, e.score] as const) }], {
          title: `model selection: ${selection.metric}`,
          xTitle: "epoch",
          yTitle: "score",
        }),
      ),
    });
  return out;
}

function gallery(runDir: string): string {
  const index = readText(join(runDir, GALLERY_DIR, "index.json"));
  if (!index) return "";
  const g = JSON.parse(index) as GalleryIndex;
  const items = g.items
    .filter((it) => existsSync(join(runDir, GALLERY_DIR, basename(it.file))))
    .map((it) => {
      const data = readFileSync(join(runDir, GALLERY_DIR, basename(it.file))).toString("base64");
      return `<figure><img alt="${escapeMarkup(it.caption)}" src="data:image/png;base64,${data}"><figcaption>${escapeMarkup(it.caption)}</figcaption></figure>`;
    });
  if (items.length === 0) return "";
  return `<section id="gallery"><h2>${escapeMarkup(g.title)}</h2>${g.note ? `<p>${escapeMarkup(g.note)}</p>` : ""}<div class="gallery">${items.join("\n")}</div></section>`;
}

/** The task's summary.md as HTML; raw HTML in it is shown as text, never interpreted. */
function summaryHtml(markdown: string): string {
  const marked = new Marked({ renderer: { html: ({ text }) => escapeMarkup(text) } });
  return marked.parse(markdown, { async: false });
}

const STYLE = `
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
th { background: #f4f4f4; } code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: .85rem; }
pre { background: #f7f7f7; padding: .75rem; overflow-x: auto; border: 1px solid #e4e4e4; }
figure.chart { margin: 1rem 0; } figure.chart svg { max-width: 100%; height: auto; }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; } .gallery figure { margin: 0; width: 260px; }
.gallery img { width: 100%; image-rendering: auto; border: 1px solid #ccc; } .gallery figcaption { font-size: .85rem; }
nav a { margin-right: 1rem; }`;

/** Writes `<runDir>/report.html` from what the run folder holds; returns its path. */
export async function writeRunPage(runDir: string): Promise<string> {
  const configText = readText(join(runDir, "config.yaml")) ?? "";
  const config = (configText ? parseYaml(configText) : {}) as { name?: string; task?: { name?: string }; objectives?: { name: string }[] };
  const summaryText = readText(join(runDir, "summary.json"));
  const summary = summaryText ? (JSON.parse(summaryText) as Record<string, unknown>) : null;
  const objectives = (config.objectives ?? []).map((o) => o.name);
  const charts = await figures(runDir, objectives, summary);
  const markdown = readText(join(runDir, "summary.md"));
  const galleryHtml = gallery(runDir);
  const name = config.name ?? basename(runDir);
  const sections = [
    `<section id="summary"><h2>Summary</h2>${markdown ? summaryHtml(markdown) : "<p>The run wrote no summary (it did not finish).</p>"}</section>`,
    charts.length > 0
      ? `<section id="figures"><h2>Figures</h2>${charts.map((c) => `<figure class="chart" aria-label="${escapeMarkup(c.title)}">${c.svg}</figure>`).join("\n")}</section>`
      : "",
    galleryHtml,
    `<section id="config"><h2>Configuration</h2><p>The effective config (config.yaml: every default filled in).</p><pre>${escapeMarkup(configText)}</pre></section>`,
  ].filter(Boolean);
  const nav = [
    ["summary", "Summary"],
    ["figures", "Figures"],
    ["gallery", "Gallery"],
    ["config", "Configuration"],
  ].filter(([id]) => sections.some((s) => s.startsWith(`<section id="${id}"`)));
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeMarkup(name)} — polyalign run</title><style>${STYLE}</style></head>
<body><h1>Run ${escapeMarkup(name)}${config.task?.name ? ` <small>(task ${escapeMarkup(config.task.name)})</small>` : ""}</h1>
<nav>${nav.map(([id, label]) => `<a href="#${id}">${label}</a>`).join("")}</nav>
${sections.join("\n")}
</body></html>
`;
  const file = join(runDir, "report.html");
  writeFileAtomic(file, html);
  return file;
}
