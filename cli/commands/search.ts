/**
 * `polyalign search`: the images of a folder most similar to a text by ITC,
 * with their features cached beside the images (updated as files change).
 */
import type { CliCommand } from "../command.ts";
import { integerOption, parseCommandArgs, requireString } from "../args.ts";
import { join } from "node:path";
import { searchIndex, updateImageIndex } from "../../plugins/inference/index.ts";
import { TRAINED_MODEL_OPTIONS, withTrainedModel } from "../trained-model.ts";

export const searchCommand: CliCommand = {
  name: "search",
  summary: "find the images of a folder that a text describes (ITC features cached beside them)",
  help: `usage: polyalign search --run R --images DIR --text T [--top K] [--config C] [--checkpoint K] [--json]

Ranks the image files under DIR (recursively; jpg, png, webp, ...) by the
cosine of their ITC features with the text's. The features are cached in
DIR/.polyalign-index-<model>.safetensors, one file per model: a later search
embeds only new and changed files. A file that is not a readable image is
left out with a warning. R as for \`polyalign score\`. --top K (default 10).

example:
  polyalign search --run runs/demo --images photos/ --text "a red cube" --top 5`,
  async run(args, io) {
    const { values } = parseCommandArgs("search", args, {
      ...TRAINED_MODEL_OPTIONS,
      images: { type: "string" },
      text: { type: "string" },
      top: { type: "string", default: "10" },
      json: { type: "boolean", default: false },
    });
    const dir = requireString("search", values, "images");
    const text = requireString("search", values, "text");
    const top = integerOption("search", values, "top", 1) as number;
    return withTrainedModel("search", values, io, async (model) => {
      const index = await updateImageIndex(model, dir, io.log);
      const hits = searchIndex(model, index, text, top);
      if (values.json) {
        io.out(
          JSON.stringify({ text: model.caption(text), images: index.images.length, embedded: index.embedded, skipped: index.skipped, index: index.file, hits }),
        );
        return 0;
      }
      io.out(
        `"${model.caption(text)}" over ${index.images.length} images in ${dir} (${index.embedded} embedded now${index.skipped.length ? `, ${index.skipped.length} left out` : ""}; index ${index.file})`,
      );
      hits.forEach((h, i) => io.out(`${String(i + 1).padStart(4)}  ${h.similarity.toFixed(4)}  ${join(dir, h.file)}`));
      return 0;
    });
  },
};
