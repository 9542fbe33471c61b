/**
 * `Module`: a tree of named parameters, buffers and children, in the spirit of
 * `torch.nn.Module`. Dotted names (`blocks.0.attn.qkv.weight`) are what state
 * dicts and checkpoints use.
 */
import { tf, type Variable } from "./tf.ts";
import type { Initializer } from "./init.ts";
import type { Rng } from "./rng.ts";
import { ShapeError } from "../errors.ts";

interface Slot {
  variable: Variable;
  kind: "parameter" | "buffer";
  /** Set when the slot shares another module's variable (tied weights). */
  tiedTo?: string;
}

export abstract class Module {
  private readonly slots = new Map<string, Slot>();
  private readonly childModules = new Map<string, Module>();
  private isTraining = true;

  /** Create a trainable parameter initialised from `init`. */
  protected param(name: string, shape: readonly number[], init: Initializer, rng: Rng): Variable {
    const initial = tf.tensor(init(shape, rng), shape as number[], "float32");
    const v = tf.variable(initial, true);
    initial.dispose();
    this.addSlot(name, { variable: v, kind: "parameter" });
    return v;
  }

  /** A non-trainable tensor saved in the state dict (queues, pointers, position ids). */
  protected buffer(name: string, value: tf.Tensor): Variable {
    const v = tf.variable(value, false);
    value.dispose();
    this.addSlot(name, { variable: v, kind: "buffer" });
    return v;
  }

  /** Register `variable` (owned elsewhere) under another name, as PyTorch does for tied weights. */
  protected tie(name: string, variable: Variable, ownerName: string): Variable {
    this.addSlot(name, { variable, kind: "parameter", tiedTo: ownerName });
    return variable;
  }

  /**
   * Make an existing parameter slot share `variable` (owned by `ownerName`):
   * the slot's own variable is disposed; state dicts list the name as tied.
   */
  protected retie(name: string, variable: Variable, ownerName: string): Variable {
    const slot = this.slots.get(name);
    if (slot?.kind !== "parameter") throw new ShapeError(`${this.constructor.name} has no parameter "${name}" to tie`);
    if (slot.variable.shape.join() !== variable.shape.join()) {
      throw new ShapeError(`cannot tie ${name} [${slot.variable.shape}] to ${ownerName} [${variable.shape}]`);
    }
    if (slot.tiedTo === undefined) slot.variable.dispose();
    this.slots.set(name, { variable, kind: "parameter", tiedTo: ownerName });
    return variable;
  }

  protected child<M extends Module>(name: string, module: M): M {
    if (this.childModules.has(name) || this.slots.has(name)) {
      throw new ShapeError(`${this.constructor.name} already has a member named "${name}"`);
    }
    this.childModules.set(name, module);
    module.train(this.isTraining);
    return module;
  }

  private addSlot(name: string, slot: Slot): void {
    if (name.includes(".")) throw new ShapeError(`parameter name "${name}" must not contain a dot`);
    if (this.slots.has(name) || this.childModules.has(name)) {
      throw new ShapeError(`${this.constructor.name} already has a member named "${name}"`);
    }
    this.slots.set(name, slot);
  }

  get training(): boolean {
    return this.isTraining;
  }

  train(mode = true): this {
    this.isTraining = mode;
    for (const c of this.childModules.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  children(): IterableIterator<[string, Module]> {
    return this.childModules.entries();
  }

  /** Trainable parameters, each variable once (tied names are skipped). */
  *namedParameters(prefix = ""): Generator<[string, Variable]> {
    for (const [name, e] of this.walk(prefix)) {
      if (e.kind === "parameter" && e.tiedTo === undefined) yield [name, e.variable];
    }
  }

  /** Every entry of the state dict: parameters, buffers and tied names. */
  *stateEntries(prefix = ""): Generator<[string, Variable, { kind: Slot["kind"]; tiedTo?: string }]> {
    for (const [name, e] of this.walk(prefix)) yield [name, e.variable, { kind: e.kind, tiedTo: e.tiedTo }];
  }

  private *walk(prefix: string): Generator<[string, Slot]> {
    for (const [n, s] of this.slots) yield [prefix + n, s];
    for (const [n, c] of this.childModules) yield* c.walk(`${prefix}${n}.`);
  }

  numParameters(): number {
    let n = 0;
    for (const [, v] of this.namedParameters()) n += v.size;
    return n;
  }

  /** Dispose every variable this module owns (tied slots are left to their owner). */
  dispose(): void {
    for (const s of this.slots.values()) if (s.tiedTo === undefined) s.variable.dispose();
    this.slots.clear();
    for (const c of this.childModules.values()) c.dispose();
    this.childModules.clear();
  }
}

/** A list of modules named `0`, `1`, ... (PyTorch `ModuleList`). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (m === undefined) throw new RangeError(`ModuleList index ${i} out of range (length ${this.items.length})`);
    return m;
  }
}
