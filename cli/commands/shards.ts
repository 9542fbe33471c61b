/** `polyalign shards build | inspect | verify`: writing, summarising and checking WebDataset shards. */
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import type { CliCommand, CliIo } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { decodeImage } from "../../core/data/image/decode.ts";
import { type ImageTextRecord, keyFromPath, readAlbefList, readCocoCaptions, readCsv } from "../../core/data/sources/image-text-sources.ts";
import { newReadStats, type ReadProblem, readShards } from "../../core/data/webdataset/reader.ts";
import { expandShardSpec } from "../../core/data/webdataset/shard-list.ts";
import { ShardWriter } from "../../core/data/webdataset/writer.ts";

const IMAGE_EXTS = new Set(["jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp"]);

const HELP = `usage:
  polyalign shards build --out PATTERN (--coco CAPTIONS.json --images DIR | --albef LIST.json [--images DIR] | --csv FILE.csv [--images DIR])
                         [--maxcount N] [--maxsize BYTES] [--on-error skip|fail]
  polyalign shards inspect SHARDS [--json]
  polyalign shards verify SHARDS [--json]

build    one sample per image: KEY.<image ext> (the file's bytes), KEY.txt (its
         first caption), KEY.json (all captions and the source's metadata).
         PATTERN is printf-style, e.g. shards/coco-%06d.tar; sizes.json is written beside.
inspect  shard and sample counts and the extensions present; --json prints
         {"shards": n, "samples": n, "extensions": {"jpg": n, ...}}.
verify   decodes every image, parses every .json, checks every .txt is UTF-8;
         lists bad samples (shard, key, reason) and exits 1 if there are any.

SHARDS is a path, brace pattern (x-{000000..000009}.tar), directory, glob, URL or pipe:CMD; join several with ::.`;

async function build(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs("shards build", args, {
    out: { type: "string" },
    coco: { type: "string" },
    albef: { type: "string" },
    csv: { type: "string" },
    images: { type: "string" },
    maxcount: { type: "string", default: "10000" },
    maxsize: { type: "string", default: "1000000000" },
    "on-error": { type: "string", default: "skip" },
  });
  if (typeof values.out !== "string") throw new UsageError("polyalign shards build: --out PATTERN is required");
  const policy = values["on-error"];
  if (policy !== "skip" && policy !== "fail") throw new UsageError(`polyalign shards build: --on-error must be skip or fail, got "${String(policy)}"`);
  const sources = [values.coco, values.albef, values.csv].filter((v) => v !== undefined);
  if (sources.length !== 1) throw new UsageError("polyalign shards build: give exactly one of --coco, --albef, --csv");
  const images = typeof values.images === "string" ? values.images : undefined;
  let records: ImageTextRecord[];
  if (values.coco) {
    if (!images) throw new UsageError("polyalign shards build: --coco needs --images DIR");
    records = readCocoCaptions(String(values.coco), images);
  } else if (values.albef) records = readAlbefList(String(values.albef), images);
  else records = readCsv(String(values.csv), images);
  const writer = new ShardWriter({ pattern: values.out, maxcount: Number(values.maxcount), maxsize: Number(values.maxsize), onWarning: (m) => io.log.warn(m) });
  const used = new Set<string>();
  let skipped = 0;
  try {
    for (const [i, r] of records.entries()) {
      const ext = extname(r.image).slice(1).toLowerCase().replace("jpeg", "jpg");
      const problem = !existsSync(r.image) ? "image file not found" : !IMAGE_EXTS.has(ext) ? `not an image extension (.${ext})` : null;
      if (problem) {
        if (policy === "fail") throw new UsageError(`polyalign shards build: record ${i} (${r.image}): ${problem}`);
        io.log.warn(`skipped record ${i}: ${r.image}: ${problem}`);
        skipped++;
        continue;
      }
      let key = keyFromPath(r.image);
      for (let n = 1; used.has(key); n++) key = `${keyFromPath(r.image)}_${n}`;
      used.add(key);
      await writer.write({ key, files: { [ext]: readFileSync(r.image), txt: r.captions[0], json: JSON.stringify({ captions: r.captions, ...r.meta }) } });
    }
  } catch (e) {
    writer.abort();
    throw e;
  }
  const shards = await writer.close();
  io.out(`wrote ${records.length - skipped} samples in ${shards.length} shard(s)${skipped ? `; skipped ${skipped}` : ""}`);
  for (const s of shards) io.out(`  ${s.file}  ${s.samples} samples, ${s.payloadBytes} bytes`);
  return 0;
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
  for (const p of stats.problems) io.out(`problem: ${p.shard}: ${p.key ?? "-"}: ${p.reason}`);
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
        bad.push({ shard: s.url, key: s.key, reason: `.${ext}: ${(e as Error).message}` });
      }
    }
  }
  bad.unshift(...stats.problems);
  if (json) io.out(JSON.stringify({ shards: shards.length, samples: stats.samples, bad }));
  else {
    io.out(`${shards.length} shard(s), ${stats.samples} samples checked, ${bad.length} problem(s)`);
    for (const p of bad) io.out(`  ${p.shard}: ${p.key ?? "-"}: ${p.reason}`);
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
