/**
 * `polyalign forward`: build the model a config describes and run one forward
 * pass on a seeded random batch — a quick check that a plugin combination
 * (e.g. a custom fusion module) fits together.
 */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { activateBackend, buildEncoderModel, ConfigError, prepareRun, randomVisionLanguageBatch, tf } from "../../core/index.ts";

export const forwardCommand: CliCommand = {
  name: "forward",
  summary: "build a config's model and run one forward pass on a random batch",
  help: `usage: polyalign forward --config FILE [--set key.path=value ...] [--batch N] [--length L]

Builds model.vision, model.text and model.fusion from FILE, runs them on a
seeded random batch (images at the vision encoder's imageSize, token ids
below the text vocabulary) and prints the output shapes, the parameter count
and the time taken.`,
  async run(args, io) {
    const { values } = parseCommandArgs("forward", args, {
      config: { type: "string" },
      set: { type: "string", multiple: true },
      batch: { type: "string", default: "2" },
      length: { type: "string", default: "16" },
    });
    const file = requireString("forward", values, "config");
    const { config, scope } = await prepareRun(io.registry, file, { sets: stringList(values.set), log: io.log });
    if (!config.model) throw new ConfigError(`${file}: forward needs a model: section`, "model", file);
    const info = await activateBackend(scope);
    const model = buildEncoderModel(scope).eval();
    const batch = randomVisionLanguageBatch(config, Number(values.batch), Number(values.length));
    const t0 = performance.now();
    const out = model.forward(batch);
    const ms = performance.now() - t0;
    io.out(`backend        ${info.backend} (${info.kernels})`);
    io.out(`plugins        vision=${config.model.vision.name} text=${config.model.text.name} fusion=${config.model.fusion.name}`);
    io.out(`parameters     ${model.numParameters().toLocaleString("en-US")}`);
    io.out(`image tokens   [${out.imageEmbeds.shape.join(", ")}]`);
    io.out(`text tokens    [${out.textEmbeds.shape.join(", ")}]`);
    io.out(`fused          [${out.fused.shape.join(", ")}]  finite=${tf.tidy(() => tf.all(tf.isFinite(out.fused)).dataSync()[0] === 1)}`);
    io.out(`forward        ${ms.toFixed(0)} ms`);
    tf.dispose([out.imageEmbeds, out.textEmbeds, out.fused, batch.images, batch.ids, batch.mask]);
    model.dispose();
    return 0;
  },
};
