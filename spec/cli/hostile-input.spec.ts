/**
 * The hostile-input table: damaged shards, images, configs, checkpoints and
 * the file system, each given to the CLI as a user would, and the one line
 * (or the count) it must answer with — never a stack trace, never a hang,
 * never a silent loss.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import sharp from "sharp";
import { stringify } from "yaml";
import { ShardWriter } from "../../core/index.ts";
import { REPO_ROOT } from "../helpers.ts";
import { cli, tinyConfig, useTempRuns } from "../tiny-run.ts";

async function jpeg(w = 24, h = 20): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 30, b: 90 } } })
      .jpeg()
      .toBuffer(),
  );
}

interface Case {
  /** what is wrong */
  input: string;
  run(): Promise<{ code: number; out: string }>;
  code: number;
  /** the line the user must read */
  says: RegExp;
}

describe("cli: hostile input — each case ends in one line naming what and where", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  const at = (...p: string[]) => join(tmp.path, ...p);
  const cases: Case[] = [];
  let good = "";

  before(async () => {
    const w = new ShardWriter({ pattern: at("good-%06d.tar") });
    for (let i = 0; i < 4; i++) await w.write({ key: `g${i}`, files: { jpg: await jpeg(), txt: "a red circle" } });
    good = (await w.close())[0].file;
    const bytes = readFileSync(good);
    writeFileSync(at("cut-member.tar"), bytes.subarray(0, 512 + 50));
    writeFileSync(at("cut-boundary.tar"), bytes.subarray(0, 3 * 1024));
    writeFileSync(at("empty.tar"), new Uint8Array(0));
    writeFileSync(at("good.tar.gz"), gzipSync(bytes));
    writeFileSync(at("cut.tar.gz"), gzipSync(bytes).subarray(0, 200));
    const bad = new ShardWriter({ pattern: at("bad-%06d.tar") });
    await bad.write({ key: "corrupt", files: { jpg: (await jpeg()).subarray(0, 40), txt: "a red circle" } });
    await bad.write({ key: "noimage", files: { txt: "a red circle" } });
    await bad.write({ key: "notext", files: { jpg: await jpeg() } });
    await bad.write({ key: "utf8", files: { jpg: await jpeg(), txt: new Uint8Array([0x61, 0xff, 0xfe]) } });
    // 9000 × 9000 = 81 MP, a few kB as PNG: refused from its header, before any pixel is decoded
    const bomb = new Uint8Array(
      await sharp({ create: { width: 9000, height: 9000, channels: 3, background: "white" } })
        .png({ compressionLevel: 9 })
        .toBuffer(),
    );
    await bad.write({ key: "pixels", files: { png: bomb, txt: "a red circle" } });
    await bad.close();
    writeFileSync(
      at("bomb.yaml"),
      [
        "a: &a [x, x, x, x, x, x, x, x, x]",
        ...["b", "c", "d", "e", "f", "g"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefg"[i]}`).join(", ")}]`),
      ].join("\n") + "\n",
    );
    const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "victim" });
    writeFileSync(at("victim.yaml"), stringify({ ...cfg, task: { ...cfg.task, evalRetrieval: false, steps: 2 } }));
    writeFileSync(
      at("broken-plugin.mjs"),
      `export default function (registry, polyalign) {
  registry.registerPlugin({ kind: polyalign.Fusion, name: "broken", schema: polyalign.z.strictObject({}), create: () => { throw new TypeError("boom inside the plugin"); } });
}\n`,
    );
    writeFileSync(
      at("broken.yaml"),
      stringify({ ...cfg, name: "broken", plugins: [at("broken-plugin.mjs")], model: { ...cfg.model, fusion: { name: "broken" } } }),
    );
    writeFileSync(at("not-a-folder"), "a file where the runs folder should be\n");
    mkdirSync(at("ckpt"), { recursive: true });
  });

  const shard = (input: string, file: () => string, code: number, says: RegExp, verb = "verify") =>
    cases.push({ input, run: () => cli("shards", verb, file()), code, says });
  shard(
    "a tar cut inside a member",
    () => at("cut-member.tar"),
    1,
    /^\s+\S+cut-member\.tar: corrupt or truncated tar \(inside member g0\.jpg\): Unexpected end of data$/,
  );
  shard(
    "a tar cut exactly at a member boundary",
    () => at("cut-boundary.tar"),
    1,
    /cut-boundary\.tar: the tar ends without its end-of-archive blocks \(cut short after 3072 bytes\?\)/,
  );
  shard("an empty file", () => at("empty.tar"), 1, /empty\.tar: empty file, not a tar/);
  shard("a gzip'd tar (fine)", () => at("good.tar.gz"), 0, /1 shard\(s\), 4 samples checked, 0 problem\(s\)/);
  shard("a gzip'd tar cut short", () => at("cut.tar.gz"), 1, /cut\.tar\.gz: .*(unexpected end of file|corrupt or truncated tar)/);
  shard("a shard that is not there", () => at("missing.tar"), 1, /shard not found: .*missing\.tar/, "inspect");
  shard("a corrupt JPEG", () => at("bad-000000.tar"), 1, /bad-000000\.tar: corrupt: \.jpg: .*cannot (read|decode) the image/);
  shard("a sample without an image", () => at("bad-000000.tar"), 1, /bad-000000\.tar: noimage: has no image member \(txt\)/);
  shard("a sample without a text", () => at("bad-000000.tar"), 1, /bad-000000\.tar: notext: has no text member \(\.txt or \.json\)/);
  shard("text that is not UTF-8", () => at("bad-000000.tar"), 1, /bad-000000\.tar: utf8: \.txt: .*(not valid|encoded data was not valid)/);
  shard("an 81-megapixel PNG (a decompression bomb)", () => at("bad-000000.tar"), 1, /bad-000000\.tar: pixels: \.png: .*(exceeds the pixel limit|pixel limit)/);
  shard(
    "a brace pattern naming 10⁸ shards",
    () => "x-{0..99999999}.tar",
    1,
    /"x-\{0\.\.99999999\}\.tar" expands to 100,000,000 names, more than the limit of 1,000,000/,
    "inspect",
  );
  shard("seven nested ranges", () => "{0..9}{0..9}{0..9}{0..9}{0..9}{0..9}{0..9}", 1, /expands to 10,000,000 names/, "inspect");

  const config = (input: string, args: () => string[], code: number, says: RegExp) => cases.push({ input, run: () => cli(...args()), code, says });
  config("a YAML alias bomb", () => ["config", "--config", at("bomb.yaml")], 2, /bomb\.yaml: cannot read the YAML: Excessive alias count/);
  config(
    "an unknown plugin name",
    () => ["config", "--config", join(REPO_ROOT, "configs", "demo.yaml"), "--set", "model.fusion.name=hypergrph"],
    2,
    /model\.fusion\.name: unknown Fusion plugin "hypergrph" \(did you mean "hypergraph"\?\); known: cross-attention, hypergraph/,
  );
  config(
    "a misspelt field",
    () => ["config", "--config", join(REPO_ROOT, "configs", "demo.yaml"), "--set", "data.batchSise=8"],
    2,
    /data\.batchSise: unknown field \(did you mean "batchSize"\?\)/,
  );
  config(
    "a field out of range, with --fresh",
    () => ["train", "--config", at("victim.yaml"), "--fresh", "--set", "data.batchSize=0"],
    2,
    /data\.batchSize: .*(>0|positive|too small)/,
  );
  config(
    "a tar member over data.maxMemberBytes",
    () => ["train", "--config", at("victim.yaml"), "--fresh", "--set", "data.maxMemberBytes=100", "--set", "data.onError=fail"],
    1,
    /^polyalign train: \S+train-000000\.tar: sample \w+: member \w+\.jpg is [\d,]+ bytes, more than the limit \(data\.maxMemberBytes\)$/,
  );
  config(
    "a plugin that throws an unexpected error",
    () => ["train", "--config", at("broken.yaml")],
    70,
    /^polyalign train: unexpected error: boom inside the plugin \(a bug in polyalign or a plugin; --debug prints the stack trace\)$/,
  );
  config(
    "the same, with --debug",
    () => ["train", "--config", at("broken.yaml"), "--debug"],
    70,
    /unexpected error: boom inside the plugin[\s\S]*\n(TypeError: boom inside the plugin\n)?\s+at /,
  );
  config(
    "a runs folder that is a file",
    () => ["train", "--config", at("victim.yaml"), "--set", `runs=${at("not-a-folder")}`],
    1,
    /^polyalign train: (ENOTDIR|EEXIST): .*not-a-folder/,
  );
  config(
    "a .pth that would run code when unpickled",
    () => ["checkpoint", "inspect", join(REPO_ROOT, "spec", "fixtures", "pytorch", "evil-system.pth")],
    1,
    /refuses the pickled global posix\.system .*executes nothing/,
  );
  config("a truncated .pth", () => ["checkpoint", "inspect", join(REPO_ROOT, "spec", "fixtures", "pytorch", "truncated-zip.pth")], 1, /truncated-zip\.pth/);

  it("the table", async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const r = await c.run();
      const line = r.out.split("\n").find((l) => c.says.test(l)) ?? (c.says.test(r.out) ? r.out : undefined);
      if (r.code !== c.code || !line) failures.push(`${c.input}: exit ${r.code} (want ${c.code}), said:\n    ${r.out.split("\n").slice(0, 6).join("\n    ")}`);
      if (!/--debug/.test(c.input) && /\n\s+at .*\(.*:\d+:\d+\)/.test(r.out)) failures.push(`${c.input}: printed a stack trace`);
    }
    assert.deepEqual(failures, [], `\n${failures.join("\n")}`);
  });

  it("a damaged trainer.json or latest.json: --resume goes on from the newest intact step; with none left, one line", async () => {
    const file = at("victim.yaml");
    const r = await cli("train", "--config", file, "--fresh", "--set", "task.steps=4", "--set", "task.checkpointEvery=2");
    assert.equal(r.code, 0, r.out);
    const dir = at("runs", "victim", "checkpoints");
    writeFileSync(join(dir, "step-0000004", "trainer.json"), "{ not json");
    writeFileSync(join(dir, "latest.json"), "[[[");
    const resumed = await cli("train", "--config", file, "--resume", "--set", "task.steps=4", "--set", "task.checkpointEvery=2");
    assert.equal(resumed.code, 0, resumed.out);
    assert.match(resumed.out, /resumed from .*step-0000002 \(step 2/);
    writeFileSync(join(dir, "step-0000002", "trainer.json"), "");
    writeFileSync(join(dir, "step-0000004", "trainer.json"), "");
    const none = await cli("train", "--config", file, "--resume", "--set", "task.steps=4", "--set", "task.checkpointEvery=2");
    assert.equal(none.code, 2, none.out);
    assert.match(none.out, /--resume: no checkpoint in .*victim\/checkpoints/);
  });

  it("what an evaluation cannot use is counted in summary.json (evaluation_dropped), not lost: n falls by exactly that", async () => {
    const base = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "evaldrop" });
    const cfg = { ...base, task: { ...base.task, steps: 2, evalRetrieval: true } };
    writeFileSync(at("evaldrop.yaml"), stringify(cfg));
    assert.equal((await cli("train", "--config", at("evaldrop.yaml"))).code, 0);
    const clean = JSON.parse(readFileSync(at("runs", "evaldrop", "summary.json"), "utf8")) as {
      retrieval: { n: number };
      evaluation_dropped: { samples: number };
    };
    assert.equal(clean.evaluation_dropped.samples, 0);
    // the test shard again, one image corrupted, and a second test shard that is missing
    const { readShard } = await import("../../core/index.ts");
    const w = new ShardWriter({ pattern: at("test-damaged-%06d.tar") });
    let i = 0;
    for await (const s of readShard(cfg.data.test)) {
      const files = { ...s.files };
      if (i++ === 3) files.jpg = files.jpg.subarray(0, 30);
      await w.write({ key: s.key, files });
    }
    const damaged = (await w.close())[0].file;
    writeFileSync(at("evaldrop2.yaml"), stringify({ ...cfg, name: "evaldrop2", data: { ...cfg.data, test: `${damaged}::${at("gone.tar")}` } }));
    const r = await cli("train", "--config", at("evaldrop2.yaml"));
    assert.equal(r.code, 0, r.out);
    const s = JSON.parse(readFileSync(at("runs", "evaldrop2", "summary.json"), "utf8")) as {
      retrieval: { n: number };
      evaluation_dropped: { samples: number; by_reason: Record<string, number>; shards: Record<string, string> };
    };
    assert.equal(s.evaluation_dropped.samples, 1);
    assert.match(Object.keys(s.evaluation_dropped.by_reason)[0], /^\.jpg: cannot (read|decode) the image$/);
    assert.deepEqual(Object.keys(s.evaluation_dropped.shards), [at("gone.tar")]);
    assert.match(s.evaluation_dropped.shards[at("gone.tar")], /shard not found/);
    assert.equal(s.retrieval.n, clean.retrieval.n - 1);
    assert.match(
      readFileSync(at("runs", "evaldrop2", "summary.md"), "utf8"),
      /Evaluation dropped 1 sample\(s\) \(1 × \.jpg: cannot (read|decode) the image\); 1 shard\(s\) not read to their end\./,
    );
  });

  it("training: a missing shard is a damaged shard in summary.json, not a skipped sample", async () => {
    const base = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "trainshard" });
    const cfg = {
      ...base,
      task: { ...base.task, steps: 8, evalRetrieval: false },
      data: { ...base.data, train: `${base.data.train}::${at("gone-train.tar")}` },
    };
    writeFileSync(at("trainshard.yaml"), stringify(cfg));
    const r = await cli("train", "--config", at("trainshard.yaml"));
    assert.equal(r.code, 0, r.out);
    const s = JSON.parse(readFileSync(at("runs", "trainshard", "summary.json"), "utf8")) as { skipped_samples: number; damaged_shards: Record<string, string> };
    assert.equal(s.skipped_samples, 0);
    assert.match(s.damaged_shards[at("gone-train.tar")], /shard not found/);
  });
});
