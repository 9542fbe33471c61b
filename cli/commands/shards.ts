/** `polyalign shards build | inspect | verify`: writing, summarising and checking WebDataset shards. */
import type { CliCommand, CliIo } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { decodeImage } from "../../core/data/image/decode.ts";
import {
  captionSample,
  type ImageTextRecord,
  KARPATHY_SPLITS,
  parseKarpathySplits,
  readAlbefList,
  readCocoCaptions,
  readCsv,
  readKarpathy,
  readTsv,
  readNlvr2,
  readRefcoco,
  readVgQa,
  readVqaV2,
  type SampleRecord,
  writeSampleRecords,
} from "../../core/data/sources/index.ts";
import { newReadStats, type ReadProblem, readShards } from "../../core/data/webdataset/reader.ts";
import { expandShardSpec } from "../../core/data/webdataset/shard-list.ts";
import { ProgressBar } from "../../core/util/progress-bar.ts";

const IMAGE_EXTS = new Set(["jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp"]);

const HELP = `usage:
  polyalign shards build --out PATTERN SOURCE [--maxcount N] [--maxsize BYTES] [--on-error skip|fail]
  polyalign shards inspect SHARDS [--json]
  polyalign shards verify SHARDS [--json]

SOURCE is one of
  --coco CAPTIONS.json --images DIR        COCO captions: one sample per image, all its captions
  --albef LIST.json [--images DIR]         ALBEF's lists: rows grouped by image_id (or path)
  --csv FILE.csv [--images DIR]            image,caption columns
  --tsv FILE.tsv [--images DIR] [--columns caption,image]
                                           tab-separated lists (CC3M / SBU after download)
  --karpathy dataset_coco.json --images DIR [--split train+restval]
                                           Karpathy's splits (COCO, Flickr30K); default split: all
  --vqa QUESTIONS.json [--annotations ANNOTATIONS.json] --images DIR
                                           VQA v2: one sample per question (test-dev: no annotations)
  --vg-qa vg_qa.json --images DIR          ALBEF's Visual Genome QA list (answers weigh 0.5)
  --nlvr2 FILE.jsonl --images DIR          NLVR2: two images (img0, img1), statement, label
  --refcoco REFS.p|REFS.json --instances instances.json [--dets dets.json] --images DIR [--split val+testA+testB]
                                           RefCOCO(+/g): one sample per image, its refs, image size, candidate boxes

build    writes KEY.<image ext> (the image's bytes; its type from the bytes), KEY.txt
         (a caption source's first caption) and KEY.json (all captions or the
         record's data, with its image id). PATTERN is printf-style, e.g.
         shards/coco-%06d.tar; sizes.json is written beside.
inspect  shard and sample counts and the extensions present; --json prints
         {"shards": n, "samples": n, "extensions": {"jpg": n, ...}}.
verify   decodes every image, parses every .json, checks every .txt is UTF-8
         and that every sample has an image and a text (.txt or .json) member;
         lists bad samples and damaged shards (shard, key, reason) and exits 1
         if there are any.

SHARDS is a path, brace pattern (x-{000000..000009}.tar), directory, glob, URL or pipe:CMD; join several with ::.`;

const SOURCES = ["coco", "albef", "csv", "tsv", "karpathy", "vqa", "vg-qa", "nlvr2", "refcoco"] as const;

type BuildValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

function records(values: BuildValues): SampleRecord[] {
  const given = SOURCES.filter((k) => values[k] !== undefined);
  if (given.length !== 1) throw new UsageError(`polyalign shards build: give exactly one of ${SOURCES.map((k) => `--${k}`).join(", ")}`);
  const source = given[0];
  const file = String(values[source]);
  const images = typeof values.images === "string" ? values.images : undefined;
  const needImages = (): string => {
    if (!images) throw new UsageError(`polyalign shards build: --${source} needs --images DIR`);
    return images;
  };
  const split = typeof values.split === "string" ? values.split : undefined;
  if (split !== undefined && source !== "karpathy" && source !== "refcoco")
    throw new UsageError(`polyalign shards build: --split goes with --karpathy or --refcoco, not --${source}`);
  const captions = (list: ImageTextRecord[]) => list.map((r, i) => captionSample(r, `${file}: record ${i}`));
  switch (source) {
    case "coco":
      return captions(readCocoCaptions(file, needImages()));
    case "albef":
      return captions(readAlbefList(file, images));
    case "csv":
      return captions(readCsv(file, images));
    case "tsv":
      return captions(readTsv(file, images, typeof values.columns === "string" ? values.columns.split(",").map((c) => c.trim()) : undefined));
    case "karpathy":
      return captions(readKarpathy(file, needImages(), split ? parseKarpathySplits(split) : KARPATHY_SPLITS));
    case "vqa":
      return readVqaV2(file, typeof values.annotations === "string" ? values.annotations : undefined, needImages());
    case "vg-qa":
      return readVgQa(file, needImages());
    case "nlvr2":
      return readNlvr2(file, needImages());
    case "refcoco": {
      if (typeof values.instances !== "string") throw new UsageError("polyalign shards build: --refcoco needs --instances instances.json");
      return readRefcoco({
        refs: file,
        instances: values.instances,
        dets: typeof values.dets === "string" ? values.dets : undefined,
        imagesRoot: needImages(),
        splits: split?.split("+"),
      });
    }
  }
}

async function build(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs("shards build", args, {
    out: { type: "string" },
    ...Object.fromEntries(SOURCES.map((k) => [k, { type: "string" as const }])),
    images: { type: "string" },
    split: { type: "string" },
    annotations: { type: "string" },
    instances: { type: "string" },
    dets: { type: "string" },
    columns: { type: "string" },
    maxcount: { type: "string", default: "10000" },
    maxsize: { type: "string", default: "1000000000" },
    "on-error": { type: "string", default: "skip" },
  });
  if (typeof values.out !== "string") throw new UsageError("polyalign shards build: --out PATTERN is required");
  const policy = values["on-error"];
  if (policy !== "skip" && policy !== "fail") throw new UsageError(`polyalign shards build: --on-error must be skip or fail, got "${String(policy)}"`);
  const list = records(values);
  const progress = new ProgressBar({ label: "shards: samples", total: list.length, log: io.log });
  const r = await writeSampleRecords(list, {
    pattern: values.out,
    maxcount: Number(values.maxcount),
    maxsize: Number(values.maxsize),
    onError: policy,
    warn: (m) => io.log.warn(m),
    onProgress: (done) => progress.update(done),
  })
    .then((written) => {
      progress.update(list.length);
      return written;
    })
    .finally(() => progress.stop());
  io.out(`wrote ${r.written} samples in ${r.shards.length} shard(s)${r.skipped ? `; skipped ${r.skipped}` : ""}`);
  for (const s of r.shards) io.out(`  ${s.file}  ${s.samples} samples, ${s.payloadBytes} bytes`);
  return 0;
}

/** A shard's damage is its reason (which names the shard); a sample's, shard: key: reason. */
function describeProblem(p: ReadProblem): string {
  return p.scope === "shard" ? p.reason : `${p.shard}: ${p.key ?? "-"}: ${p.reason}`;
}

async function inspect(spec: string, json: boolean, io: CliIo): Promise<number> {
  const shards = expandShardSpec(spec);
  const extensions: Record<string, number> = {};
  const stats = newReadStats();
  const firstKeys: string[] = [];
  for await (const s of readShards(shards, { onError: "skip", stats })) {
    if (firstKeys.length < 5) firstKeys.push(s.key);
    for (const ext of Object.keys(s.files)) extensions[ext] = (extensions[ext] ?? 0) + 1;
  }
  const sorted = Object.fromEntries(Object.entries(extensions).sort(([a], [b]) => a.localeCompare(b)));
  if (json) {
    io.out(JSON.stringify({ shards: shards.length, samples: stats.samples, extensions: sorted }));
  } else {
    io.out(`${shards.length} shard(s), ${stats.samples} samples`);
    io.out(
      `extensions: ${
        Object.entries(sorted)
          .map(([e, n]) => `${e} ${n}`)
          .join(", ") || "(none)"
      }`,
    );
    io.out(`first keys: ${firstKeys.join(", ")}`);
  }
  for (const p of stats.problems) io.out(`problem: ${describeProblem(p)}`);
  return stats.problems.length ? 1 : 0;
}

async function verify(spec: string, json: boolean, io: CliIo): Promise<number> {
  const shards = expandShardSpec(spec);
  const bad: ReadProblem[] = [];
  const stats = newReadStats();
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  for await (const s of readShards(shards, { onError: "skip", stats })) {
    for (const [ext, bytes] of Object.entries(s.files)) {
      const last = ext.split(".").pop() as string;
      try {
        if (IMAGE_EXTS.has(last)) await decodeImage(bytes, `${s.key}.${ext}`);
        else if (last === "json") JSON.parse(utf8.decode(bytes));
        else if (last === "txt") utf8.decode(bytes);
      } catch (e) {
        bad.push({ shard: s.url, key: s.key, reason: `.${ext}: ${(e as Error).message}`, scope: "sample" });
      }
    }
    const lasts = Object.keys(s.files).map((ext) => ext.split(".").pop() as string);
    if (!lasts.some((e) => IMAGE_EXTS.has(e)))
      bad.push({ shard: s.url, key: s.key, reason: `has no image member (${Object.keys(s.files).join(", ") || "no members"})`, scope: "sample" });
    if (!lasts.some((e) => e === "txt" || e === "json")) bad.push({ shard: s.url, key: s.key, reason: "has no text member (.txt or .json)", scope: "sample" });
  }
  bad.unshift(...stats.problems);
  if (json) io.out(JSON.stringify({ shards: shards.length, samples: stats.samples, bad }));
  else {
    io.out(`${shards.length} shard(s), ${stats.samples} samples checked, ${bad.length} problem(s)`);
    for (const p of bad) io.out(`  ${describeProblem(p)}`);
  }
  return bad.length ? 1 : 0;
}

export const shardsCommand: CliCommand = {
  name: "shards",
  summary: "build, inspect and verify WebDataset shards",
  help: HELP,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === "build") return build(rest, io);
    if (sub === "inspect" || sub === "verify") {
      const { values, positionals } = parseCommandArgs(`shards ${sub}`, rest, { json: { type: "boolean" } }, true);
      if (positionals.length !== 1) throw new UsageError(`polyalign shards ${sub}: give one SHARDS spec (join several with ::)`);
      return sub === "inspect" ? inspect(positionals[0], !!values.json, io) : verify(positionals[0], !!values.json, io);
    }
    throw new UsageError(`polyalign shards: expected build, inspect or verify${sub ? `, got "${sub}"` : ""}`);
  },
};
