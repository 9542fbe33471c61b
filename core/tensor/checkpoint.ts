/**
 * Activation checkpointing (PyTorch's torch.utils.checkpoint): a block's forward
 * keeps none of its intermediate tensors — only its output — and its backward
 * runs the forward again under a tape to get the gradients of its inputs and
 * parameters. Memory falls from every intermediate of every layer to one
 * layer's at a time, for about one more forward pass.
 *
 * The recomputation draws the same random numbers as the forward did: dropout
 * masks (and the hypergraph's random k-means seeds) come from the step's seed
 * counter (`dropoutSeeds`), which is set back to where the block began while it
 * reruns. Outside a step such draws are stateful, so there a block in training
 * mode runs without checkpointing.
 */
import { dropoutSeeds } from "./layers.ts";
import type { Module } from "./module.ts";
import { type Tensor, tf } from "./tf.ts";

/**
 * `fn(...inputs, ...constants)` checkpointed in training: `inputs` are the tensors
 * gradients flow back to, `constants` every other tensor `fn` reads (masks: they
 * get no gradient). `fn` must read no tensor it is not given but `module`'s
 * parameters — the recomputation runs after the caller's scopes have disposed
 * their intermediates. In evaluation, or outside a step, it is `fn` itself.
 */
export function checkpointed(module: Module, inputs: readonly Tensor[], fn: (...xs: Tensor[]) => Tensor, constants: readonly Tensor[] = []): Tensor {
  if (!module.training || !dropoutSeeds.active) return fn(...inputs, ...constants);
  const params = [...module.namedParameters()].map(([, v]) => v);
  const counter = dropoutSeeds.counter;
  const n = inputs.length;
  const k = constants.length;
  const run = tf.customGrad((...args: unknown[]) => {
    const given = args.slice(0, n + k) as Tensor[];
    // inputs and constants outlive the forward pass only as saved copies (the callers' scopes dispose them)
    (args[args.length - 1] as (tensors: Tensor[]) => void)(given);
    const value = fn(...given);
    const gradFunc = (dy: Tensor | Tensor[], saved: Tensor[]) => {
      const engine = tf.engine() as unknown as { state: { activeTape: unknown }; gradients: Gradients };
      // the outer backward pass's tape: a nested gradients() call replaces it and, at depth 0, clears it
      const outerTape = engine.state.activeTape;
      const after = dropoutSeeds.counter;
      dropoutSeeds.counter = counter;
      try {
        const wrt = [...saved.slice(0, n), ...params];
        const { value: again, grads } = engine.gradients(() => fn(...saved), wrt, dy as Tensor, true);
        again.dispose();
        const g = grads.map((t, i) => t ?? tf.zerosLike(wrt[i]));
        return [...g.slice(0, n), ...saved.slice(n).map((c) => tf.zerosLike(c)), ...g.slice(n)];
      } finally {
        dropoutSeeds.counter = after;
        engine.state.activeTape = outerTape;
      }
    };
    return { value, gradFunc };
  });
  return run(...inputs, ...constants, ...params) as Tensor;
}

type Gradients = (f: () => Tensor, xs: Tensor[], dy: Tensor, allowNoGradients: boolean) => { value: Tensor; grads: (Tensor | undefined)[] };
