/**
 * `polyalign search`: the images of a folder most similar to a text by ITC,
 * with their features cached beside the images (updated as files change).
 */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { join } from "node:path";
import { loadModel, searchIndex, updateImageIndex } from "../../plugins/inference/index.ts";

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
      run: { type: "string" },
      images: { type: "string" },
      text: { type: "string" },
      top: { type: "string", default: "10" },
      config: { type: "string" },
      checkpoint: { type: "string" },
      json: { type: "boolean", default: false },
    });
    const run = requireString("search", values, "run");
    const dir = requireString("search", values, "images");
    const text = requireString("search", values, "text");
    const top = Number(values.top);
    if (!Number.isInteger(top) || top < 1) throw new UsageError(`polyalign search: --top must be an integer ≥ 1 (got "${values.top}")`);
    const model = await loadModel(run, { config: values.config as string | undefined, checkpoint: values.checkpoint as string | undefined, log: io.log });
    try {
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
    } finally {
      model.dispose();
    }
  },
};
