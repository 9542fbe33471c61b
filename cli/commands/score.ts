/**
 * `polyalign score`: one image against one or more texts with a trained
 * model — ITC similarity and ITM match probability per text, best first.
 */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { TRAINED_MODEL_OPTIONS, withTrainedModel } from "../trained-model.ts";

export const scoreCommand: CliCommand = {
  name: "score",
  summary: "score an image against texts with a trained model (ITC similarity, ITM probability)",
  help: `usage: polyalign score --run R --image I --text T [--text T ...] [--config C] [--checkpoint K] [--json]

R is a run folder (its latest checkpoint; --checkpoint best or a step folder's
name picks another), a checkpoint folder, or a weights file (a converted ALBEF
file, a .pth) with --config C describing its model. I is an image file. Each
text is cleaned as the tasks clean captions. Prints one line per text, ranked
by the ITM probability: the probability, the ITC similarity (cosine) and its
logit (cosine / τ); --json prints one JSON object instead.

example:
  polyalign score --run runs/demo --image cat.jpg --text "a cat on a sofa" --text "a dog"`,
  async run(args, io) {
    const { values } = parseCommandArgs("score", args, {
      ...TRAINED_MODEL_OPTIONS,
      image: { type: "string" },
      text: { type: "string", multiple: true },
      json: { type: "boolean", default: false },
    });
    const image = requireString("score", values, "image");
    const texts = stringList(values.text);
    if (texts.length === 0) throw new UsageError("polyalign score: give at least one --text");
    return withTrainedModel("score", values, io, async (model) => {
      const scores = await model.score(image, texts);
      const ranked = [...scores].sort((a, b) => b.itmProbability - a.itmProbability);
      if (values.json) {
        io.out(JSON.stringify({ model: model.source.description, weights: model.source.file, image, scores: ranked }));
        return 0;
      }
      io.out(`${model.source.description} (${model.source.file}), image ${image}`);
      io.out(`${"ITM p(match)".padStart(12)}  ${"ITC cosine".padStart(10)}  ${"ITC logit".padStart(9)}  text`);
      for (const s of ranked) {
        io.out(`${s.itmProbability.toFixed(4).padStart(12)}  ${s.similarity.toFixed(4).padStart(10)}  ${s.itcLogit.toFixed(2).padStart(9)}  ${s.text}`);
      }
      return 0;
    });
  },
};
