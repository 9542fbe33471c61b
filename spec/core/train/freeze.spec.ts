/**
 * optim.freeze: the named modules' parameters are left as they were loaded,
 * the rest train; a prefix that names nothing, or freezing everything, is a
 * config error naming the field.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { ConfigError, latestCheckpoint, readSafetensors, tf, unfrozenParameters, type Variable } from "../../../core/index.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../tiny-run.ts";

describe("optim.freeze", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("keeps the parameters under each prefix, at module boundaries only", () => {
    const names = ["visual_encoder.blocks.0.w", "text_encoder.layer.0.w", "text_encoder.layer.1.w", "text_encoder.layer.10.w", "itm_head.weight"];
    const vars = names.map((n) => [n, tf.scalar(0) as unknown as Variable] as [string, Variable]);
    const kept = unfrozenParameters(vars, ["visual_encoder", "text_encoder.layer.1"]).map(([n]) => n);
    assert.deepEqual(kept, ["text_encoder.layer.0.w", "text_encoder.layer.10.w", "itm_head.weight"]);
    assert.deepEqual(
      unfrozenParameters(vars, []).map(([n]) => n),
      names,
    );
    assert.throws(
      () => unfrozenParameters(vars, ["visual"]),
      (e: unknown) =>
        e instanceof ConfigError &&
        /optim\.freeze/.test(e.message + String(e.path)) &&
        /"visual" names no trainable parameter.*visual_encoder, text_encoder, itm_head/.test(e.message),
    );
    assert.throws(() => unfrozenParameters(vars, ["visual_encoder", "text_encoder", "itm_head"]), /every trainable parameter is frozen/);
    for (const [, v] of vars) v.dispose();
  });

  it("a run started from a checkpoint leaves the frozen image encoder bit for bit as loaded and trains the rest", async () => {
    const base = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "base");
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "frozen" });
    const frozenCfg = {
      ...cfg,
      task: { ...cfg.task, init: base, evalRetrieval: false, evalBinding: false },
      optim: { ...cfg.optim, freeze: ["visual_encoder", "fusion.layer.0.crossattention"] },
    };
    const file = join(tmp.path, "frozen.yaml");
    writeFileSync(file, stringify(frozenCfg));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, r.out);
    const before = readSafetensors(join(latestCheckpoint(base) as string, "model.safetensors")).tensors;
    const after = readSafetensors(join(latestCheckpoint(join(tmp.path, "runs", "frozen")) as string, "model.safetensors")).tensors;
    const same = (k: string) => Buffer.from(before.get(k)!.data).equals(Buffer.from(after.get(k)!.data));
    const online = [...before.keys()].filter((k) => !/_m\.|_queue|queue_ptr/.test(k));
    const frozen = online.filter((k) => k.startsWith("visual_encoder.") || k.startsWith("fusion.layer.0.crossattention."));
    assert.ok(frozen.length > 10, `frozen tensors: ${frozen.length}`);
    for (const k of frozen) assert.ok(same(k), `${k} changed although frozen`);
    const trained = online.filter((k) => k.startsWith("text_encoder.") || k.startsWith("fusion.layer.0.attention.") || k.startsWith("itm_head."));
    assert.ok(trained.length > 5);
    const moved = trained.filter((k) => !same(k));
    assert.ok(moved.length >= trained.length - 1, `only ${moved.length} of ${trained.length} trained tensors moved`);
  });

  it("a prefix that names no parameter stops the run before it starts, naming optim.freeze", async () => {
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "badfreeze" });
    const file = join(tmp.path, "badfreeze.yaml");
    writeFileSync(file, stringify({ ...cfg, optim: { ...cfg.optim, freeze: ["vision_encoder"] } }));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /optim\.freeze.*"vision_encoder" names no trainable parameter/s);
  });
});
