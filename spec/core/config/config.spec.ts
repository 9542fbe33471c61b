import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  applyOverride,
  ConfigError,
  createLogger,
  loadConfig,
  parseOverride,
  prepareRun,
  validateConfig,
  writeEffectiveConfig,
  z,
} from "../../../core/index.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { tempDir } from "../../helpers.ts";

const quiet = createLogger({ level: "error" });

function registryWithObjectives() {
  return builtinRegistry();
}

const model = {
  vision: { name: "vit", imageSize: 32, patch: 16, width: 32, depth: 1, heads: 2 },
  text: { name: "bert", vocab: 100, width: 32, layers: 1, heads: 2 },
  fusion: { name: "cross-attention", layers: 1, heads: 2 },
};

describe("core/config", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  function write(name: string, text: string): string {
    const f = join(tmp.path, name);
    writeFileSync(f, text);
    return f;
  }

  it("extends: layers files (objects merge, lists replace, a renamed plugin section is replaced whole)", () => {
    write(
      "base.yaml",
      "seed: 1\nmodel:\n  vision: { name: vit, width: 32, depth: 2 }\n  text: { name: bert }\n  fusion: { name: cross-attention, layers: 4 }\nplugins: [./a.js]\n",
    );
    write("mid.yaml", "extends: base.yaml\nseed: 2\nmodel:\n  vision: { depth: 3 }\n");
    const f = write("top.yaml", "extends: [mid.yaml]\nmodel:\n  fusion: { name: other, k: 3 }\n");
    const { raw, layers } = loadConfig(f);
    assert.equal(raw.seed, 2);
    assert.deepEqual((raw.model as Record<string, unknown>).vision, { name: "vit", width: 32, depth: 3 });
    assert.deepEqual((raw.model as Record<string, unknown>).fusion, { name: "other", k: 3 });
    assert.deepEqual(raw.plugins, [join(tmp.path, "a.js")], "plugin paths are relative to the file naming them");
    assert.deepEqual(layers, [join(tmp.path, "base.yaml"), join(tmp.path, "mid.yaml"), join(tmp.path, "top.yaml")]);
  });

  it("extends: a cycle is an error naming the chain", () => {
    write("a.yaml", "extends: b.yaml\n");
    write("b.yaml", "extends: a.yaml\n");
    assert.throws(() => loadConfig(join(tmp.path, "a.yaml")), /config extends itself: .*a\.yaml → .*b\.yaml → .*a\.yaml/);
  });

  it("--set parses YAML values and walks lists by index or plugin name", () => {
    const cfg = { model: structuredClone(model), objectives: [{ name: "itc" }, { name: "itm" }] } as Record<string, unknown>;
    applyOverride(cfg, parseOverride("model.fusion.layers=3"));
    applyOverride(cfg, parseOverride("model.vision.name=vit"));
    applyOverride(cfg, parseOverride("objectives.itm.weight=0.5"));
    applyOverride(cfg, parseOverride("objectives.0.queue=128"));
    applyOverride(cfg, parseOverride("data.train=shards/x-{000..003}.tar"));
    applyOverride(cfg, parseOverride("hyper.layers=[0, 2]"));
    const m = cfg.model as Record<string, Record<string, unknown>>;
    assert.equal(m.fusion.layers, 3);
    assert.deepEqual(cfg.objectives, [
      { name: "itc", queue: 128 },
      { name: "itm", weight: 0.5 },
    ]);
    assert.deepEqual(cfg.data, { train: "shards/x-{000..003}.tar" });
    assert.deepEqual(cfg.hyper, { layers: [0, 2] });
    assert.throws(() => parseOverride("novalue"), /expected key\.path=value/);
    assert.throws(() => applyOverride(cfg, parseOverride("objectives.mlm.weight=1")), /no element "mlm" in objectives \(has: itc, itm\)/);
    assert.throws(
      () => applyOverride(cfg, parseOverride("model.fusion.layers.x=1")),
      (e: unknown) => e instanceof ConfigError && /model\.fusion\.layers is not an object/.test(e.message),
    );
  });

  it("swapping a plugin with --set keeps the options it shares and drops (with a warning) the ones it lacks", async () => {
    const f = write(
      "g.yaml",
      `model:\n  vision: ${JSON.stringify(model.vision)}\n  text: ${JSON.stringify(model.text)}\n  fusion: { name: cross-attention, layers: 2, heads: 2 }\n`,
    );
    const warnings: string[] = [];
    const log = { ...quiet, warn: (m: string) => warnings.push(m) };
    const r = builtinRegistry();
    r.registerPlugin({
      kind: (await import("../../../core/index.ts")).Fusion,
      name: "fancy",
      schema: z.strictObject({ layers: z.number().default(1), knn: z.number().default(5) }),
      create: () => {
        throw new Error("unused");
      },
    });
    const { config } = await prepareRun(r, f, { sets: ["model.fusion.name=fancy", "model.fusion.knn=7"], log });
    assert.deepEqual(config.model?.fusion, { name: "fancy", layers: 2, knn: 7 });
    assert.deepEqual(warnings, ["model.fusion: plugin swapped by --set; dropped options it does not take: heads"]);
  });

  it("schema errors name the path, the value and what was expected", () => {
    const r = registryWithObjectives();
    const bad = (cfg: Record<string, unknown>, path: string, re: RegExp) =>
      assert.throws(
        () => validateConfig(cfg, r, { file: "exp.yaml" }),
        (e: unknown) => e instanceof ConfigError && e.path === path && e.message.startsWith("config in exp.yaml: ") && re.test(e.message),
        path,
      );
    bad(
      { model: { ...model, fusion: { name: "cross-attention", heads: "two" } } },
      "model.fusion.heads",
      /model\.fusion\.heads: .*expected number.*\(got "two"\)/,
    );
    bad(
      { model: { ...model, fusion: { name: "cross-attention", hedas: 2 } } },
      "model.fusion.hedas",
      /unknown field \(did you mean "heads"\?\); allowed here: layers, heads/,
    );
    bad({ modle: model }, "modle", /modle: unknown field \(did you mean "model"\?\)/);
    bad({ seed: -1 }, "seed", /seed: .*>=0.*\(got -1\)/);
    bad({ objectives: [{ name: "itc", weight: "x" }] }, "objectives.0.weight", /expected number/);
    bad({ objectives: [{ name: "mlmm" }] }, "objectives.0.name", /unknown Objective plugin "mlmm" \(did you mean "mlm"\?\); known: itc, itm, mlm/);
    bad({ backend: "gpu" }, "backend", /unknown backend "gpu" \(did you mean "cpu"\?\); known: auto, cpu, cpu-js, cpu-native, tensorflow/);
    bad({ model: { vision: model.vision, text: model.text } }, "model.fusion", /model\.fusion: .*\(got nothing\)/);
  });

  it("YAML syntax errors give file, line and column; a non-mapping top level is refused", () => {
    const f = write("broken.yaml", "seed: 1\nmodel: {vision: [1, 2}\n");
    assert.throws(() => loadConfig(f), /broken\.yaml:2:\d+: invalid YAML/);
    const g = write("list.yaml", "- 1\n- 2\n");
    assert.throws(() => loadConfig(g), /list\.yaml: the top level must be a mapping/);
    assert.throws(() => loadConfig(join(tmp.path, "absent.yaml")), /cannot read config file .*absent\.yaml: ENOENT/);
  });

  it("defaults are filled from the plugin schemas and the effective config is written to the run folder", () => {
    const r = registryWithObjectives();
    const cfg = validateConfig({ name: "exp", model, objectives: [{ name: "itm", weight: 2 }] }, r);
    assert.equal(cfg.seed, 42);
    assert.equal(cfg.backend, "auto");
    assert.equal(cfg.model?.fusion.dropout, 0.1);
    assert.equal(cfg.model?.vision.eps, 1e-6);
    assert.deepEqual(cfg.objectives, [{ name: "itm", weight: 2, negatives: "hard", randomSteps: 0, textNegatives: false, pooling: "cls" }]);
    const file = writeEffectiveConfig(join(tmp.path, "runs", "exp"), cfg);
    const back = parseYaml(readFileSync(file, "utf8")) as unknown;
    assert.deepEqual(back, JSON.parse(JSON.stringify(cfg)));
    assert.deepEqual(validateConfig(back as Record<string, unknown>, r), cfg, "the written config validates to itself");
  });
});
