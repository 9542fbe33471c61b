import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CheckpointError,
  checkStateDict,
  fromFloat32,
  Linear,
  loadModule,
  loadStateDict,
  Module,
  Rng,
  saveModule,
  tf,
  type Variable,
} from "../../../core/index.ts";
import { tempDir, useTestBackend } from "../../helpers.ts";

class Tiny extends Module {
  readonly proj: Linear;
  readonly head: Linear;
  readonly ptr: Variable;
  constructor(seed: number, outWidth = 3) {
    super();
    const rng = new Rng(seed);
    this.proj = this.child("proj", new Linear(4, 5, rng));
    this.head = this.child("head", new Linear(5, outWidth, rng));
    this.ptr = this.buffer("queue_ptr", tf.tensor1d([seed], "int32"));
  }
}

function values(m: Module): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [n, v] of m.stateEntries()) out[n] = [...v.dataSync()];
  return out;
}

describe("core/checkpoint state dicts", () => {
  before(useTestBackend);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it("save → load reproduces every parameter and int buffer, by dotted name", () => {
    const a = new Tiny(1);
    const b = new Tiny(2);
    const file = join(tmp.path, "tiny.safetensors");
    saveModule(a, file, { config: "{}" });
    const report = loadModule(b, file);
    assert.deepEqual(report.loaded.sort(), ["head.bias", "head.weight", "proj.bias", "proj.weight", "queue_ptr"]);
    assert.deepEqual(values(b), values(a));
    assert.equal(b.ptr.dtype, "int32");
    a.dispose();
    b.dispose();
  });

  it("strict loading with missing, unexpected or mis-shaped keys throws and changes nothing", () => {
    const a = new Tiny(1);
    const b = new Tiny(2, 7); // head is [7, 5]
    const file = join(tmp.path, "tiny.safetensors");
    saveModule(a, file);
    const before = values(b);
    assert.throws(
      () => loadModule(b, file),
      (e: unknown) => e instanceof CheckpointError && e.message.includes(file) && /shape mismatch 2: head.weight model \[7,5\] vs file \[3,5\]/.test(e.message),
    );
    assert.deepEqual(values(b), before, "nothing was assigned");

    const src = new Map([
      ["proj.weight", fromFloat32(new Float32Array(20), [5, 4])],
      ["extra.thing", fromFloat32(new Float32Array(1), [1])],
    ]);
    const r = checkStateDict(b, src);
    assert.deepEqual(r.missing.sort(), ["head.bias", "head.weight", "proj.bias", "queue_ptr"]);
    assert.deepEqual(r.unexpected, ["extra.thing"]);
    assert.throws(() => loadStateDict(b, src), /missing 4: .*unexpected 1: extra\.thing/);
    a.dispose();
    b.dispose();
  });

  it("non-strict loading assigns what matches and reports the rest", () => {
    const b = new Tiny(2);
    const src = new Map([
      ["proj.weight", fromFloat32(new Float32Array(20).fill(0.5), [5, 4])],
      ["head.weight", fromFloat32(new Float32Array(6), [2, 3])],
      ["nope", fromFloat32(new Float32Array(1), [1])],
    ]);
    const r = loadStateDict(b, src, { strict: false, optional: (n) => n === "queue_ptr" });
    assert.deepEqual(r.loaded, ["proj.weight"]);
    assert.deepEqual(r.mismatched, [{ name: "head.weight", expected: [3, 5], got: [2, 3] }]);
    assert.deepEqual(r.unexpected, ["nope"]);
    assert.deepEqual(r.missing.sort(), ["head.bias", "proj.bias"]);
    assert.ok([...b.proj.weight.dataSync()].every((v) => v === 0.5));
    b.dispose();
  });
});
