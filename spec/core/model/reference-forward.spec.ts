/**
 * polyalign's ALBEF pre-training step against ALBEF's own PyTorch numbers
 * (../shared/fixtures/albef-tiny): every intermediate, every gradient and the
 * whole post-step state, to abs ≤ 1e-4 or rel ≤ 1e-3.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger, readSafetensors, type StoredTensor, toFloat32, toInt32 } from "../../../core/index.ts";
import { referenceForward } from "../../../core/cli/commands/reference-forward.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { sharedPathOrSkip, useTestBackend } from "../../helpers.ts";

function compare(got: ReadonlyMap<string, StoredTensor>, want: ReadonlyMap<string, StoredTensor>, what: string, skip: (k: string) => boolean = () => false): string[] {
  const failures: string[] = [];
  for (const [k, w] of want) {
    if (skip(k)) continue;
    const g = got.get(k);
    if (!g) {
      failures.push(`${what}: ${k} missing`);
      continue;
    }
    if (g.shape.join() !== w.shape.join()) {
      failures.push(`${what}: ${k} shape [${g.shape}] vs [${w.shape}]`);
      continue;
    }
    const a = toFloat32(g);
    const b = toFloat32(w);
    let bad = 0;
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      worst = Math.max(worst, d);
      if (!(d <= 1e-4 || d <= 1e-3 * Math.abs(b[i]))) bad++;
    }
    if (bad) failures.push(`${what}: ${k}: ${bad}/${a.length} elements off (max |diff| ${worst})`);
  }
  return failures;
}

describe("reference-forward on ALBEF's tiny fixture", function () {
  this.timeout(120000);
  let dir: string;
  let result: Awaited<ReturnType<typeof referenceForward>>;

  before(async function () {
    dir = sharedPathOrSkip(this, "fixtures", "albef-tiny");
    await useTestBackend();
    result = await referenceForward(
      { weights: join(dir, "weights.safetensors"), inputs: join(dir, "inputs.safetensors") },
      { out: () => {}, log: createLogger({ level: "error" }), registry: builtinRegistry() },
    );
    await useTestBackend();
  });

  it("writes the 50 documented outputs; the step's 46 match ALBEF (losses, similarities, targets, fusion, MLM, queues)", () => {
    const expected = readSafetensors(join(dir, "expected.safetensors")).tensors;
    assert.equal(result.outputs.size, 50);
    assert.deepEqual([...result.outputs.keys()].sort(), [...expected.keys()].sort());
    const failures = compare(result.outputs, expected, "outputs", (k) => k.startsWith("pair_"));
    assert.deepEqual(failures, []);
    const loss = toFloat32(result.outputs.get("loss")!)[0];
    assert.ok(Math.abs(loss - toFloat32(expected.get("loss")!)[0]) < 1e-4);
  });

  it("every gradient matches (131 trainable parameters, tied ones once)", () => {
    const grads = readSafetensors(join(dir, "grads.safetensors")).tensors;
    assert.equal(result.grads.size, grads.size);
    assert.deepEqual(compare(result.grads, grads, "grads"), []);
  });

  it("the state after AdamW, the momentum update and the enqueue matches (all 268 keys but the position_ids buffers)", () => {
    const after = readSafetensors(join(dir, "state_after.safetensors")).tensors;
    assert.deepEqual(compare(result.state, after, "state", (k) => k.endsWith("position_ids")), []);
    assert.equal(result.state.size, after.size - 2);
  });

  it("extra ITM pairs: indices as given, probabilities = softmax(logits)[:, 1]", () => {
    // The fixture's pair_* values differ from ALBEF's own fusion rows of the same (text, image) pairs in this
    // file by up to 0.014 (pre-step weights) — which weights the oracle used for them is not documented; see the P4 note.
    const expected = readSafetensors(join(dir, "expected.safetensors")).tensors;
    assert.deepEqual([...toInt32(result.outputs.get("pair_indices")!)], [...toInt32(expected.get("pair_indices")!)]);
    const logits = toFloat32(result.outputs.get("pair_itm_logits")!);
    const prob = toFloat32(result.outputs.get("pair_itm_prob")!);
    for (let i = 0; i < prob.length; i++) {
      const p = 1 / (1 + Math.exp(logits[2 * i] - logits[2 * i + 1]));
      assert.ok(Math.abs(p - prob[i]) < 1e-6);
    }
    // (text 0, image 0) is the first positive pair of the step itself
    const pos = toFloat32(result.outputs.get("fusion_pos_cls")!).subarray(0, 64);
    const pair = toFloat32(result.outputs.get("pair_fusion_cls")!).subarray(0, 64);
    assert.ok(pos.every((v, i) => Math.abs(v - pair[i]) < 1e-5));
  });
});
