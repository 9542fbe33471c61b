/**
 * The plugin registry: which implementations exist for each kind, by name,
 * with their config schemas. Registration is an explicit call; lookups of
 * unknown names fail with the list of known ones.
 */
import type { z } from "zod";
import type { PluginKind } from "./kinds/index.ts";
import type { Logger } from "../log.ts";
import type { Rng } from "../tensor/rng.ts";
import { PluginError } from "../errors.ts";
import { didYouMean } from "../util/nearest.ts";

/** What a plugin's `create` is handed besides its own options. */
export interface PluginContext {
  /** The configured plugin of another kind (built once per run container). */
  resolve<T>(kind: PluginKind<T>): T;
  readonly log: Logger;
  /** A random stream of this plugin's own, derived from the run seed. */
  readonly rng: Rng;
}

export interface PluginDefinition<T, S extends z.ZodType = z.ZodType> {
  kind: PluginKind<T>;
  name: string;
  /** Options schema (zod). Defaults live here and nowhere else. */
  schema: S;
  description?: string;
  create(options: z.output<S>, ctx: PluginContext): T;
}

/** A definition as stored: its options' type erased, what it creates still typed. */
export interface RegisteredPlugin<T = unknown> {
  readonly kind: PluginKind<T>;
  readonly name: string;
  readonly schema: z.ZodType;
  readonly description: string;
  /** Where the registration came from (`builtin` or a module path). */
  readonly source: string;
  /** `options` must have passed `schema` (validateSection does that). */
  create(options: unknown, ctx: PluginContext): T;
}

export interface RegistryOptions {
  /**
   * URL of the module whose namespace user plugin modules are handed as their
   * second argument (polyalign's core API; `builtinRegistry()` sets it). The
   * data workers import the same module when they load user plugins.
   */
  apiModule?: string;
}

export class PluginRegistry {
  private readonly byKind = new Map<string, Map<string, RegisteredPlugin<unknown>>>();
  /** Set by the module loader while a user module registers. */
  currentSource = "builtin";
  readonly apiModule: string | null;

  constructor(opts: RegistryOptions = {}) {
    this.apiModule = opts.apiModule ?? null;
  }

  registerPlugin<T, S extends z.ZodType>(def: PluginDefinition<T, S>): void {
    if (!def.name || !/^[a-z0-9][a-z0-9._-]*$/i.test(def.name)) {
      throw new PluginError(`plugin name "${def.name}" must be a non-empty identifier (letters, digits, . _ -)`);
    }
    let table = this.byKind.get(def.kind.name);
    if (!table) {
      table = new Map();
      this.byKind.set(def.kind.name, table);
    }
    const existing = table.get(def.name);
    if (existing) {
      throw new PluginError(
        `${def.kind.name} plugin "${def.name}" is already registered (by ${existing.source}); ` + `choose another name for the one from ${this.currentSource}`,
      );
    }
    table.set(def.name, {
      kind: def.kind as PluginKind<unknown>,
      name: def.name,
      schema: def.schema,
      description: def.description ?? "",
      source: this.currentSource,
      create: (options, ctx) => def.create(options as z.output<S>, ctx),
    });
  }

  has(kind: PluginKind<unknown>, name: string): boolean {
    return this.byKind.get(kind.name)?.has(name) ?? false;
  }

  /** The plugin, or a PluginError listing the known names of that kind. */
  get<T>(kind: PluginKind<T>, name: string): RegisteredPlugin<T> {
    const found = this.byKind.get(kind.name)?.get(name);
    // stored under its kind's name by registerPlugin, so it creates a T
    if (found) return found as RegisteredPlugin<T>;
    const known = this.names(kind);
    throw new PluginError(`unknown ${kind.name} plugin "${name}"${didYouMean(name, known)}; known: ${known.length ? known.join(", ") : "(none registered)"}`);
  }

  names(kind: PluginKind<unknown>): string[] {
    return [...(this.byKind.get(kind.name)?.keys() ?? [])].sort();
  }

  /** Every registered plugin, grouped by kind in registration order of kinds. */
  list(): RegisteredPlugin[] {
    const out: RegisteredPlugin[] = [];
    for (const table of this.byKind.values()) out.push(...[...table.values()].sort((a, b) => a.name.localeCompare(b.name)));
    return out;
  }
}
