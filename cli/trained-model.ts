/** What the commands that use a trained model share: --run, --config, --checkpoint, and the model loaded and disposed around the work. */
import { requireString } from "./args.ts";
import type { CliIo } from "./command.ts";
import { loadModel, type PolyalignModel } from "../plugins/inference/index.ts";

export const TRAINED_MODEL_OPTIONS = {
  run: { type: "string" },
  config: { type: "string" },
  checkpoint: { type: "string" },
} as const;

/** Loads --run (with --config / --checkpoint), runs `work` with the model, and disposes it. */
export async function withTrainedModel<T>(
  command: string,
  values: Record<string, unknown>,
  io: CliIo,
  work: (model: PolyalignModel) => Promise<T>,
): Promise<T> {
  const run = requireString(command, values, "run");
  const model = await loadModel(run, { config: values.config as string | undefined, checkpoint: values.checkpoint as string | undefined, log: io.log });
  try {
    return await work(model);
  } finally {
    model.dispose();
  }
}
