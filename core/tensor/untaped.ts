/**
 * PyTorch's `torch.no_grad()` for tfjs: `fn`'s ops are not recorded on the
 * gradient tape, so no gradient flows back through what it returns and the
 * tape keeps none of its intermediates for the backward pass. tfjs has no
 * public switch for this; the engine records an op only while its gradient
 * depth is above zero, and that depth is set to zero for `fn` and restored.
 */
import { tf } from "./tf.ts";

interface EngineState {
  gradientDepth: number;
}

export function untaped<T>(fn: () => T): T {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  const depth = state.gradientDepth;
  state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    state.gradientDepth = depth;
  }
}
