/** Building the built-in data set when a run's `data.synth` asks for it and the folder does not hold it yet (or holds other sizes). */
import { ProgressBar } from "../../util/progress-bar.ts";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Logger } from "../../log.ts";
import type { DataConfig } from "../pipeline/data-config.ts";
import { buildSynthDataset, type SynthMeta, synthMetaMatches } from "./build.ts";

export async function ensureSynthData(data: DataConfig, log: Logger): Promise<void> {
  const s = data.synth;
  if (!s) return;
  const meta = resolve(s.out, "meta.json");
  if (existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, "utf8")) as SynthMeta;
    if (synthMetaMatches(m, s)) return;
  }
  log.info(`building the built-in data set in ${s.out}`);
  let progress: ProgressBar | null = null;
  await buildSynthDataset({
    out: s.out,
    seed: s.seed,
    imageSize: s.imageSize,
    train: s.train,
    val: s.val,
    test: s.test,
    pairs: s.pairs,
    objects: s.objects,
    onProgress: (done, total) => {
      progress ??= new ProgressBar({ label: "synth samples", total, log });
      progress.update(done);
    },
  });
  (progress as ProgressBar | null)?.stop();
}
