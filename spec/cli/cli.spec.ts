import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger, fromFloat32, fromInt, readSafetensors, readWeights, writeSafetensors } from "../../core/index.ts";
import { runCli } from "../../cli/main.ts";
import { REPO_ROOT, tempDir, useTestBackend } from "../helpers.ts";

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runCli(argv, { out: (l) => lines.push(l), log: createLogger({ level: "error" }) });
  return { code, out: lines.join("\n") };
}

describe("cli: polyalign", () => {
  before(useTestBackend);

  it("--help lists the commands; each command has its own help", async () => {
    const top = await cli("--help");
    assert.equal(top.code, 0);
    for (const c of ["plugins", "config", "forward", "checkpoint"]) assert.match(top.out, new RegExp(`\\n  ${c}\\s`));
    const sub = await cli("config", "--help");
    assert.match(sub.out, /usage: polyalign config --config FILE/);
    const unknown = await cli("trian");
    assert.equal(unknown.code, 2);
    assert.match(unknown.out, /unknown command "trian"/);
  });

  it("plugins prints every registered plugin with its defaults, and loads --plugin modules", async () => {
    const r = await cli("plugins", "--plugin", join(REPO_ROOT, "examples/gated-fusion/gated-fusion.js"));
    assert.equal(r.code, 0);
    assert.match(r.out, /VisionEncoder\n {2}vit\s+ViT/);
    assert.match(r.out, /imageSize=256 patch=16 width=768 depth=12 heads=12/);
    assert.match(r.out, /Fusion\n {2}cross-attention .*\n.*\n {2}gated-pool\s+example user plugin.*\[.*gated-fusion\.js\]\n\s+scale=1/);
    // a plugin with a required option still shows the defaults of the others
    assert.match(r.out, / {2}grounding .*\n\s+required: init; mode="itm" maxImages=1000 batchSize=32 gallery=12\n/);
    const json = JSON.parse((await cli("plugins", "--json")).out) as { kind: string; name: string }[];
    assert.ok(json.some((p) => p.kind === "Backend" && p.name === "cpu"));
  });

  it("a bad data:, optim: or task: field fails at config time, before --fresh removes the run folder or anything is written", async () => {
    const tmp = tempDir();
    try {
      const runs = join(tmp.path, "runs");
      const old = join(runs, "demo");
      mkdirSync(join(old, "checkpoints"), { recursive: true });
      writeFileSync(join(old, "metrics.jsonl"), '{"step":1}\n');
      const base = [
        "train",
        "--config",
        join(REPO_ROOT, "configs/demo.yaml"),
        "--fresh",
        "--set",
        `runs=${runs}`,
        "--set",
        `data.synth.out=${join(tmp.path, "synth")}`,
      ];
      const typo = await cli(...base, "--set", "data.batchSzie=8");
      assert.equal(typo.code, 2, typo.out);
      assert.match(typo.out, /data\.batchSzie: unknown field \(did you mean "batchSize"\?\)/);
      const bad = await cli(...base, "--set", "data.batchSize=-1");
      assert.equal(bad.code, 2, bad.out);
      assert.match(bad.out, /data\.batchSize: .*\(got -1\)/);
      const lr = await cli(...base, "--set", "optim.lr=fast");
      assert.equal(lr.code, 2, lr.out);
      assert.match(lr.out, /optim\.lr: /);
      const epochs = await cli(...base, "--set", "task.epochs=0");
      assert.equal(epochs.code, 2, epochs.out);
      assert.match(epochs.out, /task\.epochs: .*\(got 0\)/);
      const config = await cli("config", "--config", join(REPO_ROOT, "configs/demo.yaml"), "--set", "task.epochs=0");
      assert.equal(config.code, 2, "polyalign config validates what train validates");
      assert.ok(existsSync(join(old, "metrics.jsonl")), "the earlier run is still there");
      assert.ok(!existsSync(join(tmp.path, "synth")), "no data set was built");
    } finally {
      tmp.cleanup();
    }
  });

  it("config prints the effective config with overrides; a bad field exits 2 naming the path", async () => {
    const ok = await cli("config", "--config", join(REPO_ROOT, "configs/demo.yaml"), "--set", "model.fusion.layers=1");
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /fusion:\n {4}name: hypergraph\n {4}layers: 1\n/);
    const bad = await cli("config", "--config", join(REPO_ROOT, "configs/demo.yaml"), "--set", "model.vision.patchh=4");
    assert.equal(bad.code, 2);
    assert.match(bad.out, /model\.vision\.patchh: unknown field \(did you mean "patch"\?\)/);
    const missing = await cli("config");
    assert.equal(missing.code, 2);
    assert.match(missing.out, /--config is required/);
  });

  it("forward builds the demo model and runs it", async () => {
    const r = await cli("forward", "--config", join(REPO_ROOT, "configs/demo.yaml"), "--batch", "2", "--length", "8");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /fused\s+\[2, 8, 64\]\s+finite=true/);
  });

  it("every shipped config (configs/*.yaml) validates", async () => {
    const files = readdirSync(join(REPO_ROOT, "configs")).filter((f) => f.endsWith(".yaml"));
    assert.ok(files.length >= 10);
    for (const f of files) {
      const r = await cli("config", "--config", join(REPO_ROOT, "configs", f));
      assert.equal(r.code, 0, `${f}: ${r.out}`);
    }
  });

  it("checkpoint inspect lists names, dtypes and shapes; a bad file is a clear error", async () => {
    const tmp = tempDir();
    try {
      const f = join(tmp.path, "m.safetensors");
      writeSafetensors(
        f,
        new Map([
          ["w", fromFloat32(new Float32Array(6), [2, 3])],
          ["ptr", fromInt(new Int32Array([0]), [1], "I64")],
        ]),
        { a: "b" },
      );
      const r = await cli("checkpoint", "inspect", f);
      assert.equal(r.code, 0);
      assert.match(r.out, /^w\s+F32\s+\[2, 3\]$/m);
      assert.match(r.out, /2 tensors, 7 elements; safetensors; metadata: a/);
      const bad = await cli("checkpoint", "inspect", join(tmp.path, "none.safetensors"));
      assert.equal(bad.code, 1);
      assert.match(bad.out, /none\.safetensors: no such file/);
    } finally {
      tmp.cleanup();
    }
  });

  it("checkpoint convert: a PyTorch {model: …} file to safetensors, tensors unchanged; an existing output needs --force; a malicious file writes nothing", async () => {
    const tmp = tempDir();
    const fixtures = join(REPO_ROOT, "spec", "fixtures", "pytorch");
    try {
      const out = join(tmp.path, "m.safetensors");
      const inspect = await cli("checkpoint", "inspect", join(fixtures, "wrapped-model.pth"));
      assert.match(inspect.out, /8 tensors, 31 elements; torch zip \(state dict under "model"\)/);
      const r = await cli("checkpoint", "convert", join(fixtures, "wrapped-model.pth"), "--out", out);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /m\.safetensors: 8 tensors from .*wrapped-model\.pth \(torch zip, under "model"\)/);
      const a = readWeights(join(fixtures, "wrapped-model.pth")).tensors;
      const b = readSafetensors(out);
      assert.deepEqual([...b.tensors.keys()], [...a.keys()]);
      for (const [k, t] of a) assert.ok(Buffer.from(b.tensors.get(k)!.data).equals(Buffer.from(t.data)), k);
      assert.equal(b.metadata.state_dict_key, "model");
      const again = await cli("checkpoint", "convert", join(fixtures, "wrapped-model.pth"), "--out", out);
      assert.equal(again.code, 2);
      assert.match(again.out, /exists \(use --force to replace it\)/);
      const evilOut = join(tmp.path, "evil.safetensors");
      const evil = await cli("checkpoint", "convert", join(fixtures, "evil-system.pth"), "--out", evilOut);
      assert.equal(evil.code, 1);
      assert.match(evil.out, /refuses the pickled global posix\.system/);
      assert.equal(existsSync(evilOut), false);
    } finally {
      tmp.cleanup();
    }
  });
});
