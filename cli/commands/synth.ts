/** `polyalign synth`: build the built-in multi-entity data set as WebDataset shards. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CliCommand } from "../command.ts";
import { integerOption, parseCommandArgs } from "../args.ts";
import { buildSynthDataset, type SynthMeta, synthMetaMatches } from "../../core/data/synth/build.ts";
import { UsageError } from "../../core/errors.ts";

/** `--objects N` or `--objects MIN-MAX` (1–8) */
function objectRange(v: unknown): [number, number] {
  const m = /^([1-8])(?:-([1-8]))?$/.exec(String(v));
  const range: [number, number] | null = m ? [Number(m[1]), Number(m[2] ?? m[1])] : null;
  if (!range || range[0] > range[1]) throw new UsageError(`polyalign synth: --objects must be N or MIN-MAX within 1–8, got "${String(v)}"`);
  return range;
}

export const synthCommand: CliCommand = {
  name: "synth",
  summary: "build the built-in multi-entity data set (shards/synth)",
  help: `usage: polyalign synth [--out DIR] [--seed N] [--size PX] [--train N] [--val N] [--test N] [--pairs N] [--objects MIN-MAX] [--force]

Renders scenes of 1–4 objects (shape, colour, size, position; --objects 2
or 2-3 for another range) and writes WebDataset shards: DIR/{train,val,test}-%06d.tar with KEY.jpg, KEY.txt (a
caption naming several entities and a relation) and KEY.json (every object's
box, more captions, attribute-swapped "binding" negatives, VQA pairs), and
DIR/nlvr-{train,test}-%06d.tar with image pairs and true/false statements,
plus DIR/vocab.txt (WordPiece vocabulary) and DIR/meta.json. The same options
give the same bytes; an existing set built with the same options is kept
unless --force.

defaults: --out shards/synth --seed 0 --size 64 --train 2000 --val 200 --test 500 --pairs 200 --objects 1-4`,
  async run(args, io) {
    const { values } = parseCommandArgs("synth", args, {
      out: { type: "string", default: "shards/synth" },
      seed: { type: "string", default: "0" },
      size: { type: "string", default: "64" },
      train: { type: "string", default: "2000" },
      val: { type: "string", default: "200" },
      test: { type: "string", default: "500" },
      pairs: { type: "string", default: "200" },
      objects: { type: "string", default: "1-4" },
      force: { type: "boolean", default: false },
    });
    const opts = {
      out: String(values.out),
      seed: integerOption("synth", values, "seed") as number,
      imageSize: integerOption("synth", values, "size", 16) as number,
      train: integerOption("synth", values, "train") as number,
      val: integerOption("synth", values, "val") as number,
      test: integerOption("synth", values, "test") as number,
      pairs: integerOption("synth", values, "pairs") as number,
      objects: objectRange(values.objects),
    };
    const metaFile = join(opts.out, "meta.json");
    if (!values.force && existsSync(metaFile)) {
      const same = synthMetaMatches(JSON.parse(readFileSync(metaFile, "utf8")) as SynthMeta, opts);
      if (same) {
        io.out(`${opts.out}: the built-in data set is already there (use --force to rebuild)`);
        return 0;
      }
    }
    const t0 = performance.now();
    let last = 0;
    const summary = await buildSynthDataset({
      ...opts,
      onProgress: (done, total) => {
        const now = performance.now();
        if (now - last > 1000 || done === total) {
          last = now;
          io.log.info(`synth: ${done}/${total} samples`, { done, total });
        }
      },
    });
    for (const [split, s] of Object.entries(summary.splits))
      io.out(`${split.padEnd(11)} ${String(s.samples).padStart(6)} samples in ${s.shards.length} shard(s)`);
    io.out(`vocabulary  ${summary.vocabSize} tokens → ${summary.vocab}`);
    io.out(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
