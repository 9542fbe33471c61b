/**
 * runs/<name>/report.html, opened in headless Chromium (Debian's `chromium`;
 * the browser specs are pending where it is absent): a pre-training run's page
 * and a grounding run's page render with no console error and no request
 * leaving the file, and show their figures — the charts drawn with a size, the
 * Grad-CAM pictures decoded — with the summary and the config.
 */
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { writeRunPage } from "../../../core/index.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../tiny-run.ts";

const HYPERGRAPH = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 };

/** Debian's chromium, or CHROMIUM_PATH */
function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

interface PageFacts {
  sections: string[];
  charts: { title: string; width: number; height: number; texts: number }[];
  pictures: { complete: boolean; width: number; height: number }[];
  config: string;
  tables: number;
}

/** Runs in the page (a string: the specs compile without the DOM's types). */
const MEASURE = `(() => {
  const box = (e) => e.getBoundingClientRect();
  return {
    sections: [...document.querySelectorAll("section")].map((s) => s.id),
    charts: [...document.querySelectorAll("figure.chart")].map((f) => {
      const svg = f.querySelector("svg");
      return { title: f.getAttribute("aria-label") ?? "", width: svg ? box(svg).width : 0, height: svg ? box(svg).height : 0, texts: f.querySelectorAll("text").length };
    }),
    pictures: [...document.querySelectorAll(".gallery img")].map((img) => ({ complete: img.complete, width: img.naturalWidth, height: img.naturalHeight })),
    config: document.querySelector("#config pre")?.textContent ?? "",
    tables: document.querySelectorAll("#summary table").length,
  };
})()`;

/** Opens the page, collects console errors, page errors and every request that is not file: or data:, and measures what is shown. */
async function openPage(file: string): Promise<{ facts: PageFacts; errors: string[]; requests: string[] }> {
  const { launch } = await import("puppeteer-core");
  const browser = await launch({
    executablePath: chromiumPath() as string,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warn") errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page error: ${(e as Error).message}`));
    page.on("request", (r) => {
      if (!/^(file|data):/.test(r.url())) requests.push(r.url());
    });
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
    const facts = (await page.evaluate(MEASURE)) as PageFacts;
    return { facts, errors, requests };
  } finally {
    await browser.close();
  }
}

describe("core/run: the run's report page (report.html)", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  let pretrain: string;
  let grounding: string;
  before(async () => {
    pretrain = await pretrainTinyBase(tmp.path, HYPERGRAPH, "base");
    const cfg = { ...tinyConfig(tmp.path, HYPERGRAPH, { name: "ground" }), task: { name: "grounding", init: pretrain, batchSize: 5, gallery: 4 } };
    writeFileSync(join(tmp.path, "ground.yaml"), stringify(cfg));
    const r = await cli("train", "--config", join(tmp.path, "ground.yaml"));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /report +.*ground\/report\.html/);
    grounding = join(tmp.path, "runs", "ground");
  });

  it("is self-contained: charts inline, pictures as data, nothing from the network; raw HTML in the summary is shown as text", async () => {
    for (const run of [pretrain, grounding]) {
      const html = readFileSync(join(run, "report.html"), "utf8");
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, `${run}: no remote reference`);
      assert.doesNotMatch(html, /<script/i, "no script");
    }
    const html = readFileSync(join(pretrain, "report.html"), "utf8");
    assert.match(html, /<svg[^>]*>/);
    assert.match(html, /training loss/);
    const ground = readFileSync(join(grounding, "report.html"), "utf8");
    assert.equal((ground.match(/src="data:image\/png;base64,/g) ?? []).length, 4, "the four gallery pictures inline");
    // a summary.md with markup in it (a caption could carry some) is escaped
    writeFileSync(join(grounding, "summary.md"), "# t\n\n<img src=x onerror=alert(1)>\n");
    const page = readFileSync(await writeRunPage(grounding), "utf8");
    assert.doesNotMatch(page, /<img src=x/);
    assert.match(page, /&#60;img src=x onerror=alert\(1\)&#62;/);
  });

  it("polyalign report redraws a run folder's page; a folder that holds no run is named", async () => {
    const page = join(pretrain, "report.html");
    rmSync(page);
    const r = await cli("report", "--run", pretrain);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), page);
    assert.match(readFileSync(page, "utf8"), /training loss/);
    // a run killed mid-write leaves half a line: the page is drawn from the rest
    appendFileSync(join(pretrain, "metrics.jsonl"), '{"step": 99, "loss": 1.');
    assert.equal((await cli("report", "--run", pretrain)).code, 0);
    assert.match(readFileSync(page, "utf8"), /training loss/);
    const empty = join(tmp.path, "empty");
    mkdirSync(empty);
    const bad = await cli("report", "--run", empty);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /empty is not a run folder \(no config\.yaml or metrics\.jsonl\)/);
  });

  it("renders in headless Chromium with no console error, and shows the loss, fusion and learning-rate charts, the summary and the config", async function () {
    if (!chromiumPath()) this.skip();
    const { facts, errors, requests } = await openPage(join(pretrain, "report.html"));
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    assert.deepEqual(facts.sections, ["summary", "figures", "config"]);
    assert.deepEqual(
      facts.charts.map((c) => c.title),
      ["Training loss", "Fusion figures per layer", "Learning rate"],
    );
    for (const c of facts.charts) {
      assert.ok(c.width > 300 && c.height > 200, `${c.title} drawn ${c.width}×${c.height}`);
      assert.ok(c.texts > 10, `${c.title}: title, ticks and legend (${c.texts} texts)`);
    }
    assert.ok(facts.tables >= 1, "the summary's tables");
    assert.match(facts.config, /name: base/);
  });

  it("a grounding run's page shows its Grad-CAM gallery, every picture decoded", async function () {
    if (!chromiumPath()) this.skip();
    await writeRunPage(grounding);
    const { facts, errors, requests } = await openPage(join(grounding, "report.html"));
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    assert.deepEqual(facts.sections, ["summary", "gallery", "config"]);
    assert.equal(facts.pictures.length, 4);
    for (const p of facts.pictures) assert.deepEqual(p, { complete: true, width: 256, height: 256 });
  });
});
