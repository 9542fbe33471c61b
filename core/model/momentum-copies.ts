/**
 * ALBEF's momentum (EMA) model: every online module has a copy that starts
 * equal and then follows θ_m ← m·θ_m + (1 − m)·θ, never trained directly.
 */
import { tf, type Variable } from "../tensor/tf.ts";
import type { Module } from "../tensor/module.ts";
import { ShapeError } from "../errors.ts";

export class MomentumCopies {
  private readonly pairs: [Variable, Variable][] = [];
  private readonly momentumVars = new Set<Variable>();

  /** Pair each online module with its copy (same parameter names and shapes) and copy the weights over. */
  constructor(copies: readonly [Module, Module][]) {
    for (const [on, mo] of copies) {
      const b = new Map(mo.namedParameters());
      for (const [name, v] of on.namedParameters()) {
        const m = b.get(name);
        if (!m || m.shape.join() !== v.shape.join()) throw new ShapeError(`momentum copy lacks ${name} or differs in shape`);
        this.pairs.push([v, m]);
        this.momentumVars.add(m);
      }
    }
    this.copy();
  }

  /** θ_m ← θ for every pair (after loading online weights from elsewhere). */
  copy(): void {
    for (const [p, pm] of this.pairs) pm.assign(p);
  }

  /** θ_m ← m·θ_m + (1 − m)·θ, one parameter at a time (one tidy for all would hold a model's worth of temporaries). */
  update(m: number): void {
    for (const [p, pm] of this.pairs) tf.tidy(() => pm.assign(tf.add(tf.mul(pm, m), tf.mul(p, 1 - m))));
  }

  isMomentum(v: Variable): boolean {
    return this.momentumVars.has(v);
  }
}
