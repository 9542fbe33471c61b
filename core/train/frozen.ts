/**
 * `optim.freeze`: parameters the optimiser leaves alone, named by module path
 * prefixes (`visual_encoder`, `text_encoder.layer.0`) — a linear probe, a frozen
 * image tower, or a fusion trained on top of fixed encoders. Frozen parameters
 * get no gradient (nothing is computed for them) and no optimiser state; they
 * are still saved in checkpoints and, where the model keeps momentum copies,
 * those copies follow them as before.
 */
import { ConfigError } from "../errors.ts";
import type { Variable } from "../tensor/tf.ts";

const under = (name: string, prefix: string) => name === prefix || name.startsWith(`${prefix}.`);

/** The named parameters not under any of `freeze`'s prefixes; a prefix that names no parameter, or freezing all of them, is a ConfigError. */
export function unfrozenParameters(params: Iterable<[string, Variable]>, freeze: readonly string[]): [string, Variable][] {
  const all = [...params];
  if (freeze.length === 0) return all;
  for (const prefix of freeze) {
    if (!all.some(([name]) => under(name, prefix))) {
      const tops = [...new Set(all.map(([name]) => name.split(".")[0]))].join(", ");
      throw new ConfigError(
        `optim.freeze: "${prefix}" names no trainable parameter (a module path such as visual_encoder or fusion.layer.0; the top-level ones here: ${tops})`,
        "optim.freeze",
      );
    }
  }
  const kept = all.filter(([name]) => !freeze.some((p) => under(name, p)));
  if (kept.length === 0) throw new ConfigError("optim.freeze: every trainable parameter is frozen: nothing is left to train", "optim.freeze");
  return kept;
}
