/** summary.md of a pre-training run: losses, zero-shot retrieval, attribute binding. */
import type { TrainingSummary } from "../../../core/index.ts";
import { type BindingScores, replacedMarkdown } from "../shared/binding.ts";

export function summaryMarkdown(
  s: TrainingSummary & {
    retrieval: {
      n: number;
      i2t: { r1: number; r5: number; r10: number };
      t2i: { r1: number; r5: number; r10: number };
      r_mean: number;
      chance: { i2t: { r1: number; r5: number; r10: number }; t2i: { r1: number; r5: number; r10: number } };
      ties: { i2t: number; t2i: number };
      shared_captions: number;
    } | null;
    binding: BindingScores | null;
  },
): string {
  const f = (v: number) => v.toFixed(1);
  const lines = [
    `# ${s.name}: pre-training summary`,
    "",
    `${s.steps} steps (${s.samples} samples, ${s.epochs} epochs) in ${s.wall_time_s} s on ${s.backend}; fusion: ${s.fusion ?? "?"}.`,
    "",
    `Final losses: ${
      s.final_loss
        ? Object.entries(s.final_loss)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")
        : "—"
    }. Loss curve: loss.png.`,
    "",
  ];
  if (s.retrieval) {
    const r = s.retrieval;
    lines.push(
      `## Zero-shot retrieval on ${r.n} held-out images (one caption each)`,
      "",
      "| direction | R@1 | R@5 | R@10 | chance R@1 / 5 / 10 |",
      "| --- | --- | --- | --- | --- |",
      `| image → text | ${f(r.i2t.r1)} | ${f(r.i2t.r5)} | ${f(r.i2t.r10)} | ${f(r.chance.i2t.r1)} / ${f(r.chance.i2t.r5)} / ${f(r.chance.i2t.r10)} |`,
      `| text → image | ${f(r.t2i.r1)} | ${f(r.t2i.r5)} | ${f(r.t2i.r10)} | ${f(r.chance.t2i.r1)} / ${f(r.chance.t2i.r5)} / ${f(r.chance.t2i.r10)} |`,
      "",
      `Mean recall ${f(r.r_mean)} %. ${r.shared_captions} captions are also another image's (identical text counts as correct for both); ` +
        `exact ties with a wrong answer in the top 10, ranked behind it: ${r.ties.i2t} image → text, ${r.ties.t2i} text → image.`,
      "",
    );
  }
  if (s.binding) {
    const b = s.binding;
    lines.push(
      `## Attribute binding (${b.pairs} caption / swapped-attribute negative pairs on ${b.images} held-out images)`,
      "",
      `The caption beats its negative in ${f(b.itcPairs)} % of pairs by ITC similarity and ${f(b.itmPairs)} % by the ITM logit; chance is 50 %.`,
      "",
      ...replacedMarkdown(b),
    );
  }
  return lines.join("\n");
}
