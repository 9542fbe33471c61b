/**
 * PyTorch files read without Python: the committed fixtures of
 * spec/fixtures/pytorch/make_fixtures.py (torch 1.13: zip and legacy formats,
 * fp16/bf16/f64, views, tied weights, wrappers, a two-shard index, malicious
 * and corrupt files) against the values torch itself recorded; ALBEF's tiny
 * fixture saved by torch as {model: …}, bit for bit (needs python3-torch).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  buildVisionLanguageModel,
  CheckpointError,
  createLogger,
  loadInitialWeights,
  prepareRun,
  readSafetensors,
  readWeights,
  type StoredTensor,
  toFloat32,
} from "../../../core/index.ts";
import { configFromOracle, type OracleConfig } from "../../../cli/commands/reference-forward.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { pythonWith, REPO_ROOT, runPython, sharedPathOrSkip, tempDir, useTestBackend } from "../../helpers.ts";

const FIXTURES = join(REPO_ROOT, "spec", "fixtures", "pytorch");

interface Expected {
  dtype: string;
  shape: number[];
  values: number[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as Record<string, Record<string, Expected>>;

const DTYPES: Record<string, string> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  float64: "F64",
  int64: "I64",
  int32: "I32",
  uint8: "U8",
  bool: "BOOL",
};

function values(t: StoredTensor, name: string): number[] {
  const buf = t.data.slice().buffer;
  switch (t.dtype) {
    case "I64":
      return [...new BigInt64Array(buf)].map(Number);
    case "I32":
      return [...new Int32Array(buf)];
    case "F64":
      return [...new Float64Array(buf)];
    case "U8":
    case "BOOL":
      return [...t.data];
    default:
      return [...toFloat32(t, name)];
  }
}

describe("core/checkpoint/pytorch: torch.save files read natively, safely", function () {
  this.timeout(60000);

  for (const file of Object.keys(expected)) {
    it(`${file}: every tensor's dtype, shape and values as torch saved them`, () => {
      const w = readWeights(join(FIXTURES, file));
      assert.deepEqual([...w.tensors.keys()].sort(), Object.keys(expected[file]).sort());
      for (const [name, e] of Object.entries(expected[file])) {
        const t = w.tensors.get(name)!;
        assert.equal(t.dtype, DTYPES[e.dtype], name);
        assert.deepEqual(t.shape, e.shape, name);
        assert.deepEqual(values(t, name), e.values, name);
      }
    });
  }

  it("names the format and the wrapper the state dict came from; --key picks one; a missing key is an error listing the keys", () => {
    assert.deepEqual(
      ["basic-zip.pth", "basic-legacy.pth", "wrapped-model.pth", "wrapped-state-dict.pth", "pytorch_model.bin.index.json"].map((f) => {
        const w = readWeights(join(FIXTURES, f));
        return [w.format, w.key];
      }),
      [
        ["torch zip", null],
        ["torch legacy", null],
        ["torch zip", "model"],
        ["torch zip", "state_dict"],
        ["sharded index", null],
      ],
    );
    assert.equal(readWeights(join(FIXTURES, "wrapped-model.pth"), { key: "model" }).tensors.size, 8);
    assert.throws(() => readWeights(join(FIXTURES, "wrapped-model.pth"), { key: "ema" }), /no dict under key "ema" \(top-level keys: model, epoch, config\)/);
  });

  it("tied weights and views: each tensor has its own values, read from the one shared storage", () => {
    const w = readWeights(join(FIXTURES, "tied-zip.pth")).tensors;
    const [word, dec, row] = ["embeddings.word", "decoder.weight", "row"].map((n) => values(w.get(n)!, n));
    assert.deepEqual(word, dec);
    assert.deepEqual(row, word.slice(3, 6));
    const v = readWeights(join(FIXTURES, "views-legacy.pth")).tensors;
    assert.deepEqual(v.get("transposed")!.shape, [3, 4]);
  });

  for (const [file, global] of [
    ["evil-system.pth", /refuses the pickled global posix\.system/],
    ["evil-eval.pth", /refuses the pickled global __builtin__\.eval \(Python 3: builtins\.eval\)/],
    ["evil-subprocess.pth", /refuses the pickled global commands\.Popen \(Python 3: subprocess\.Popen\)/],
    ["evil-storage.pth", /refuses the pickled global posix\.system/],
  ] as const) {
    it(`${file}: refused, naming the global, with no side effect`, () => {
      const marker = "/tmp/polyalign-pickle-payload-ran"; // make_fixtures.py: where a payload would leave its mark
      assert.throws(
        () => readWeights(join(FIXTURES, file)),
        (e: Error) => e instanceof CheckpointError && global.test(e.message) && e.message.includes(file) && /executes nothing/.test(e.message),
      );
      assert.equal(existsSync(marker), false, "the payload did not run");
    });
  }

  for (const [file, message] of [
    ["truncated-zip.pth", /truncated-zip\.pth: a zip archive without its end record: truncated or corrupt/],
    ["truncated-legacy.pth", /truncated-legacy\.pth: storage \d+ needs 40 bytes at \d+, the file has \d+: truncated/],
    ["corrupt-pickle.pth", /corrupt-pickle\.pth:basic-zip\/data\.pkl: pickle at byte \d+: truncated/],
    ["short-storage.pth", /short-storage\.pth: storage 0 has 4 bytes, its 12 F32 elements need 48/],
    ["missing-shard.index.json", /missing-shard\.index\.json: the index names shard\(s\) that are not there: pytorch_model-00009-of-00009\.bin/],
  ] as const) {
    it(`${file}: a clear error naming the file and what is wrong`, () => {
      assert.throws(
        () => readWeights(join(FIXTURES, file)),
        (e: Error) => e instanceof CheckpointError && message.test(e.message),
      );
    });
  }

  it("the legacy-format BERT in ../shared (allennlp's bert-xsmall-dummy) reads: 23 tensors, values as torch loads them", function () {
    const file = sharedPathOrSkip(this, "data", "weights", "format-fixtures", "bert-xsmall-dummy", "pytorch_model.bin");
    const w = readWeights(file);
    assert.equal(w.format, "torch legacy");
    assert.equal(w.tensors.size, 23);
    assert.deepEqual(w.tensors.get("embeddings.word_embeddings.weight")!.shape, [250, 20]);
    const py = pythonWith("torch");
    if (!py) return;
    const sums = JSON.parse(
      runPython(py, "import torch, sys, json; sd = torch.load(sys.argv[1]); print(json.dumps({k: float(v.double().sum()) for k, v in sd.items()}))", [file]),
    ) as Record<string, number>;
    for (const [k, s] of Object.entries(sums)) {
      const t = w.tensors.get(k)!;
      const ours = toFloat32(t, k).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(ours - s) <= 1e-4 * Math.max(1, Math.abs(s)), `${k}: ${ours} vs ${s}`);
    }
  });

  it("ALBEF's tiny fixture saved by torch as {model: …, epoch} reads to exactly the tensors of weights.safetensors (bit for bit), and initialises the same model", async function () {
    const weights = sharedPathOrSkip(this, "fixtures", "albef-tiny", "weights.safetensors");
    const py = pythonWith("torch");
    if (!py) this.skip();
    const tmp = tempDir();
    try {
      runPython(
        py!,
        `import runpy, sys; sys.argv = ["make_fixtures.py", sys.argv[1], sys.argv[2]]; runpy.run_path(${JSON.stringify(join(FIXTURES, "make_fixtures.py"))}, run_name="__main__")`,
        [tmp.path, weights],
      );
      const ours = readWeights(join(tmp.path, "albef-tiny.pth"));
      assert.equal(ours.key, "model");
      const ref = readSafetensors(weights).tensors;
      assert.deepEqual([...ours.tensors.keys()].sort(), [...ref.keys()].sort());
      for (const [k, t] of ref) {
        const u = ours.tensors.get(k)!;
        assert.equal(u.dtype, t.dtype, k);
        assert.deepEqual(u.shape, t.shape, k);
        assert.ok(Buffer.from(u.data).equals(Buffer.from(t.data)), `${k}: bytes differ`);
      }
      // and task.init takes the .pth as it takes the safetensors: the same model state
      await useTestBackend();
      const oracle = JSON.parse(readSafetensors(weights).metadata.albef_oracle_config) as OracleConfig;
      const state = async (file: string) => {
        // one scope per model: a scope's encoders are singletons
        const { scope } = await prepareRun(builtinRegistry(), { name: "pth", seed: 1, ...configFromOracle(oracle) }, { log: createLogger({ level: "error" }) });
        const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
        const r = loadInitialWeights(model, file, { fusionStart: oracle.bert.fusion_layer });
        const out = new Map([...model.stateEntries()].map(([n, v]) => [n, Array.from(v.dataSync())]));
        model.dispose();
        return { out, loaded: r.loaded.length };
      };
      const fromPth = await state(join(tmp.path, "albef-tiny.pth"));
      const fromSt = await state(weights);
      assert.equal(fromPth.loaded, fromSt.loaded);
      assert.deepEqual(fromPth.out, fromSt.out);
    } finally {
      tmp.cleanup();
    }
  });
});
