import { strict as assert } from "node:assert";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { type CompareReport, CompareSection, planComparison, seedStats } from "../../../core/index.ts";
import { cli, tinyConfig, useTempRuns } from "../../tiny-run.ts";

const VARIANTS = ["cross-attention", "hypergraph"];
const SEEDS = [7, 8];

describe("polyalign compare", function () {
  this.timeout(900_000);
  const tmp = useTempRuns();
  let configFile = "";
  let root = "";
  let first = { code: -1, out: "" };

  before(async () => {
    const dir = tmp.path;
    const base = tinyConfig(dir, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: "cmp" });
    const pretrain = { ...base, task: { ...base.task, checkpointEvery: 100 } };
    const study = {
      ...pretrain,
      compare: {
        stages: [
          { name: "pretrain", metrics: { "R mean": "retrieval.r_mean", ITM: "final_loss.itm", "binding ITM %": "binding.itmPairs" } },
          {
            name: "binding",
            config: "binding.yaml",
            init: "pretrain",
            metrics: { "ITM pairs %": "itmPairs", "wino text": "winogroundItm.text", "wino group": "winogroundItm.group" },
          },
          { name: "retrieval", config: "retrieval.yaml", init: "pretrain" },
        ],
        curves: ["loss", "itm"],
      },
    };
    configFile = join(dir, "study.yaml");
    writeFileSync(configFile, stringify(study));
    writeFileSync(join(dir, "binding.yaml"), stringify({ extends: "study.yaml", task: { name: "binding", init: "unset", maxImages: 16 } }));
    writeFileSync(
      join(dir, "retrieval.yaml"),
      stringify({
        extends: "study.yaml",
        objectives: [{ name: "itc", queue: 16, embedDim: 8 }, { name: "itm" }],
        task: { name: "retrieval", init: "unset", epochs: 1, kTest: 10, logEvery: 1, checkpointEvery: 100, evalMaxImages: 16 },
        data: { format: { text: "json:captions" } },
      }),
    );
    root = join(dir, "runs", "compare-cmp");
    first = await cli("compare", "-c", configFile, "--variants", VARIANTS.join(","), "--seeds", "2");
  });

  const runDir = (variant: string, seed: number, stage: string) => join(root, variant, `seed-${seed}`, stage);
  const summary = (variant: string, seed: number, stage: string) => JSON.parse(readFileSync(join(runDir(variant, seed, stage), "summary.json"), "utf8"));

  it("runs every stage for every variant and seed, each seed the same for both variants", () => {
    assert.equal(first.code, 0, first.out);
    for (const v of VARIANTS) {
      for (const s of SEEDS) {
        for (const stage of ["pretrain", "binding", "retrieval"]) {
          const cfg = parse(readFileSync(join(runDir(v, s, stage), "config.yaml"), "utf8"));
          assert.equal(cfg.seed, s);
          assert.equal(cfg.model.fusion.name, v);
          assert.ok(existsSync(join(runDir(v, s, stage), "summary.json")), `${v} ${s} ${stage}`);
        }
        const binding = parse(readFileSync(join(runDir(v, s, "binding"), "config.yaml"), "utf8"));
        assert.equal(binding.task.init, runDir(v, s, "pretrain"), "a stage starts from its init stage of the same variant and seed");
      }
    }
  });

  it("report.json and report.md carry exactly the figures of the runs' summary files", () => {
    const report = JSON.parse(readFileSync(join(root, "report.json"), "utf8")) as CompareReport;
    assert.deepEqual(report.variants, VARIANTS);
    assert.deepEqual(report.seeds, SEEDS);
    assert.deepEqual(
      report.stages.map((s) => s.stage),
      ["pretrain", "binding", "retrieval"],
    );
    const md = readFileSync(join(root, "report.md"), "utf8");
    const checks: [string, string, (x: Record<string, unknown>) => unknown][] = [
      ["pretrain", "R mean", (x) => (x.retrieval as { r_mean: number }).r_mean],
      ["pretrain", "ITM", (x) => (x.final_loss as { itm: number }).itm],
      ["binding", "wino group", (x) => (x.winogroundItm as { group: number }).group],
      ["binding", "ITM pairs %", (x) => x.itmPairs],
    ];
    for (const [stage, label, read] of checks) {
      const row = report.stages.find((s) => s.stage === stage)?.metrics.find((m) => m.label === label);
      assert.ok(row, `${stage} ${label} in report.json`);
      for (const v of VARIANTS) {
        const values = SEEDS.map((s) => read(summary(v, s, stage)) as number);
        assert.ok(
          values.every((x) => typeof x === "number"),
          `${stage} ${label}: ${values}`,
        );
        assert.deepEqual(row.byVariant[v].values, values, `${stage} ${label} ${v}`);
        const want = seedStats(values);
        assert.equal(row.byVariant[v].mean, want.mean);
        assert.equal(row.byVariant[v].std, want.std);
        // the markdown cell is the same mean ± std
        const line = md.split("\n").find((l) => l.startsWith(`| ${label} (`)) as string;
        assert.ok(line, `report.md has a row for ${label}`);
        assert.ok(line.includes(`${(want.mean as number).toFixed(2)} ± ${(want.std as number).toFixed(2)}`), `${line} shows ${v}'s mean ± std`);
      }
    }
    // the retrieval stage lists every top-level number of its summary by default
    const retrieval = report.stages.find((s) => s.stage === "retrieval");
    assert.ok(retrieval?.metrics.some((m) => m.path === "wall_time_s"));
    // Winoground: group ≤ text, image; counted over the held-out images that have a counterfactual
    for (const v of VARIANTS) {
      for (const s of SEEDS) {
        const b = summary(v, s, "binding");
        assert.ok(b.winogroundPairs > 0);
        assert.ok(b.winogroundItm.group <= Math.min(b.winogroundItm.text, b.winogroundItm.image));
      }
    }
    // diagnostics: the hypergraph's bimodal fraction and branch weight per layer, step time and memory per variant
    assert.ok(report.diagnostics.hypergraph.bimodal_fraction_layer0.n === 2);
    assert.ok(report.diagnostics.hypergraph.branch_weight_layer0.mean! > 0 && report.diagnostics.hypergraph.branch_weight_layer0.mean! < 1);
    assert.equal(report.diagnostics["cross-attention"].bimodal_fraction_layer0.n, 0, "attention-only fusion has no hyperedges");
    assert.equal(report.diagnostics.hypergraph.step_time_s.n, 2);
    assert.match(md, /## Fusion diagnostics/);
    assert.match(md, /beyond spread/);
    for (const png of ["bars-pretrain.png", "bars-binding.png", "curve-loss.png", "curve-itm.png", "curve-bimodal_fraction_layer0.png"]) {
      const bytes = readFileSync(join(root, png));
      assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${png} is a PNG`);
      assert.ok(md.includes(`(${png})`), `report.md shows ${png}`);
    }
  });

  it("is resumable: finished stages are not rerun, a removed one is; a changed config is refused", async () => {
    const kept = statSync(join(runDir("hypergraph", 8, "pretrain"), "summary.json")).mtimeMs;
    rmSync(runDir("cross-attention", 8, "binding"), { recursive: true });
    const again = await cli("compare", "--config", configFile, "--variants", VARIANTS.join(","), "--seeds", "2");
    assert.equal(again.code, 0, again.out);
    assert.equal((again.out.match(/done earlier/g) ?? []).length, 11, again.out);
    assert.match(again.out, /cross-attention seed 8 binding: running/);
    assert.equal(statSync(join(runDir("hypergraph", 8, "pretrain"), "summary.json")).mtimeMs, kept);
    const changed = await cli("compare", "--config", configFile, "--variants", VARIANTS.join(","), "--seeds", "2", "--set", "optim.lr=0.002");
    assert.notEqual(changed.code, 0);
    assert.match(changed.out, /was made by a different config .*--fresh reruns/);
  });

  it("plans clearly: bad variants, seeds and stage order are errors naming what", () => {
    const section = CompareSection.parse({
      stages: [{ name: "pretrain" }, { name: "nlvr", config: "n.yaml", init: "pretrain" }],
      variants: { gate: { name: "hypergraph", fusion: "gate" } },
    });
    const input = {
      configFile: "/x/study.yaml",
      section,
      name: "s",
      seed: 1,
      runs: "runs",
      variants: ["gate", "cross-attention"],
      seeds: 2,
      sets: ["task.epochs=1"],
    };
    const plan = planComparison(input);
    assert.equal(plan.length, 8);
    assert.deepEqual(
      plan.slice(0, 4).map((r) => `${r.variant}/${r.seed}/${r.stage.name}`),
      ["gate/1/pretrain", "gate/1/nlvr", "cross-attention/1/pretrain", "cross-attention/1/nlvr"],
      "seed-major: an interrupted comparison has every variant for its first seeds",
    );
    assert.ok(plan[0].sets.includes("model.fusion.name=hypergraph") && plan[0].sets.includes('model.fusion.fusion="gate"'));
    assert.equal(plan[1].configFile, "/x/n.yaml");
    assert.ok(plan[1].sets.includes(`task.init=${join("runs", "compare-s", "gate", "seed-1", "pretrain")}`));
    assert.equal(plan[1].sets.at(-1), "task.epochs=1", "command-line sets come last");
    assert.throws(() => planComparison({ ...input, variants: ["gate", "gate"] }), /named twice/);
    assert.throws(() => planComparison({ ...input, seeds: 0 }), /--seeds/);
    const backwards = CompareSection.parse({ stages: [{ name: "nlvr", config: "n.yaml", init: "pretrain" }, { name: "pretrain" }] });
    assert.throws(() => planComparison({ ...input, section: backwards }), /init pretrain is not an earlier stage/);
  });
});
