/**
 * Validation of a merged config: the root schema first, then each plugin
 * section against the schema of the plugin it names. Errors give the dotted
 * path, the offending value and what was expected.
 */
import type { z } from "zod";
import { ConfigError } from "../errors.ts";
import { Backend, Fusion, Objective, type PluginKind, Task, TextEncoder, Tokenizer, VisionEncoder } from "../registry/kinds/index.ts";
import type { PluginRegistry } from "../registry/registry.ts";
import { didYouMean } from "../util/nearest.ts";
import { isPlainObject, type PlainObject } from "./merge.ts";
import { RootConfigSchema, type RunConfig } from "./schema.ts";

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "..." : s;
}

function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  // Walk object shapes along the path to list the accepted keys, for hints.
  let s: unknown = schema;
  for (const k of path) {
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    if (!shape || typeof k !== "string") return [];
    s = unwrap(shape[k]);
  }
  const shape = (unwrap(s) as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function unwrap(s: unknown): unknown {
  let cur = s as { def?: { innerType?: unknown }; _zod?: { def?: { innerType?: unknown } } } | undefined;
  for (let i = 0; i < 5 && cur; i++) {
    const inner = cur._zod?.def?.innerType ?? cur.def?.innerType;
    if (!inner) break;
    cur = inner as typeof cur;
  }
  return cur;
}

/** Turn the first zod issue into a ConfigError naming path and value. */
export function zodToConfigError(error: z.ZodError, input: unknown, schema: z.ZodType, prefix: readonly PropertyKey[], file: string): ConfigError {
  const issue = error.issues[0];
  const where = file ? ` in ${file}` : "";
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0];
    const fullPath = [...prefix, ...issue.path, key].map(String).join(".");
    const known = knownKeys(schema, issue.path);
    return new ConfigError(
      `config${where}: ${fullPath}: unknown field${didYouMean(key, known)}` + (known.length ? `; allowed here: ${known.join(", ")}` : ""),
      fullPath,
      file,
    );
  }
  const fullPath = [...prefix, ...issue.path].map(String).join(".") || "(root)";
  const value = valueAt(input, issue.path);
  return new ConfigError(`config${where}: ${fullPath}: ${issue.message} (got ${show(value)})`, fullPath, file);
}

/** `input` through `schema`, or a ConfigError naming the path under `prefix`, the value and what was expected. The one place config sections are parsed. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix: readonly PropertyKey[], file = ""): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw zodToConfigError(r.error, input, schema, prefix, file);
  return r.data;
}

/** Validate one `{ name, ...options }` section; returns it with defaults filled. */
export interface ValidateOptions {
  file?: string;
  /**
   * Sections whose plugin was swapped by a --set: options the new plugin
   * does not know are dropped (and reported through `onDrop`) instead of rejected.
   */
  swapped?: readonly string[];
  onDrop?: (path: string, dropped: string[]) => void;
}

export function validateSection(
  registry: PluginRegistry,
  kind: PluginKind<unknown>,
  section: PlainObject,
  path: string,
  opts: ValidateOptions = {},
): PlainObject {
  const file = opts.file ?? "";
  const name = section.name;
  if (typeof name !== "string") {
    throw new ConfigError(`config${file ? ` in ${file}` : ""}: ${path}.name: expected a plugin name (got ${show(name)})`, `${path}.name`, file);
  }
  if (!registry.has(kind, name)) {
    const known = registry.names(kind);
    throw new ConfigError(
      `config${file ? ` in ${file}` : ""}: ${path}.name: unknown ${kind.name} plugin "${name}"${didYouMean(name, known)}; known: ${known.join(", ") || "(none)"}`,
      `${path}.name`,
      file,
    );
  }
  const plugin = registry.get(kind, name);
  const { name: _n, ...options } = section;
  if (opts.swapped?.includes(path)) {
    const known = new Set(knownKeys(plugin.schema, []));
    const dropped = Object.keys(options).filter((k) => !known.has(k));
    for (const k of dropped) delete options[k];
    if (dropped.length) opts.onDrop?.(path, dropped);
  }
  const parsed = parseWith(plugin.schema, options, path.split("."), file) as unknown;
  if (!isPlainObject(parsed)) {
    throw new ConfigError(`${kind.name} plugin "${name}" has a schema that does not produce an object`, path, file);
  }
  return { name, ...parsed };
}

/**
 * Validate the whole config against the root schema and every named plugin.
 * Returns the effective config (defaults filled) — what gets written to the run folder.
 */
export function validateConfig(raw: PlainObject, registry: PluginRegistry, opts: ValidateOptions = {}): RunConfig {
  const file = opts.file ?? "";
  const root = parseWith(RootConfigSchema, raw, [], file);
  if (!registry.has(Backend, root.backend) && root.backend !== "auto") {
    const known = ["auto", ...registry.names(Backend)];
    throw new ConfigError(
      `config${file ? ` in ${file}` : ""}: backend: unknown backend "${root.backend}"${didYouMean(root.backend, known)}; known: ${known.join(", ")}`,
      "backend",
      file,
    );
  }
  const out = structuredClone(root) as RunConfig;
  if (root.model) {
    out.model = {
      vision: validateSection(registry, VisionEncoder, root.model.vision, "model.vision", opts) as typeof root.model.vision,
      text: validateSection(registry, TextEncoder, root.model.text, "model.text", opts) as typeof root.model.text,
      fusion: validateSection(registry, Fusion, root.model.fusion, "model.fusion", opts) as typeof root.model.fusion,
    };
  }
  out.objectives = root.objectives.map((o, i) => validateSection(registry, Objective, o, `objectives.${i}`, opts) as typeof o);
  if (root.task) out.task = validateSection(registry, Task, root.task, "task", opts) as typeof root.task;
  if (root.tokenizer) out.tokenizer = validateSection(registry, Tokenizer, root.tokenizer, "tokenizer", opts) as typeof root.tokenizer;
  return out;
}
