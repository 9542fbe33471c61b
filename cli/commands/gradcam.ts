/**
 * `polyalign gradcam`: where a text looks in an image, as a picture — the
 * image, the whole text's Grad-CAM map over it, a colour bar, and a panel per
 * word piece (ALBEF's visualisation notebook as a command).
 */
import { writeFileSync } from "node:fs";
import type { CliCommand } from "../command.ts";
import { integerOption, parseCommandArgs, requireString } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { encodedBytes, gradCamPicture } from "../../plugins/inference/index.ts";
import { TRAINED_MODEL_OPTIONS, withTrainedModel } from "../trained-model.ts";

export const gradcamCommand: CliCommand = {
  name: "gradcam",
  summary: "draw where a text looks in an image (Grad-CAM: the whole text and each word)",
  help: `usage: polyalign gradcam --run R --image I --text T --out cam.png [--mode itm|itc] [--layer N]
                         [--config C] [--checkpoint K] [--panel PX] [--columns N]

Writes a PNG: the image, the image under the whole text's map, a colour bar,
and one labelled panel per word piece (ITM mode). R is a run folder, a
checkpoint folder or a weights file with --config, as for \`polyalign score\`.
--mode itm (default): the ITM logit's gradient on a fusion layer's text → image
attention (--layer, default the 3rd fusion layer or the last of fewer);
--mode itc: the ITC similarity's on a ViT block's self-attention (default the
last; one map, no words). All panels share one colour scale.

example:
  polyalign gradcam --run runs/demo --image scene.png --text "a red cube left of a blue ball" --out cam.png`,
  async run(args, io) {
    const { values } = parseCommandArgs("gradcam", args, {
      ...TRAINED_MODEL_OPTIONS,
      image: { type: "string" },
      text: { type: "string" },
      out: { type: "string" },
      mode: { type: "string", default: "itm" },
      layer: { type: "string" },
      panel: { type: "string", default: "224" },
      columns: { type: "string", default: "4" },
    });
    const image = requireString("gradcam", values, "image");
    const text = requireString("gradcam", values, "text");
    const out = requireString("gradcam", values, "out");
    const mode = values.mode as string;
    if (mode !== "itm" && mode !== "itc") throw new UsageError(`polyalign gradcam: --mode must be itm or itc (got "${mode}")`);
    const layer = integerOption("gradcam", values, "layer", 0);
    const panel = integerOption("gradcam", values, "panel", 32) as number;
    const columns = integerOption("gradcam", values, "columns", 1) as number;
    const bytes = await encodedBytes(image, image);
    return withTrainedModel("gradcam", values, io, async (model) => {
      const cam = await model.gradcam(bytes, text, { mode, layer });
      writeFileSync(out, await gradCamPicture(bytes, cam, { panel, columns }));
      const peak = (m: Float32Array) => m.reduce((a, v) => Math.max(a, v), 0);
      io.out(
        `${out}: "${cam.text}" on ${image} — ${mode.toUpperCase()} Grad-CAM, ${mode === "itm" ? "fusion layer" : "ViT block"} ${cam.layer}, ${cam.grid}×${cam.grid} patches`,
      );
      for (const w of cam.words) io.out(`  ${w.token.padEnd(14)} peak ${peak(w.map).toPrecision(3)}`);
      return 0;
    });
  },
};
