/**
 * Reading experiment YAML files, with `extends:` layering (a path or a list of
 * paths, relative to the file; later layers and the file itself win).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import { ConfigError } from "../errors.ts";
import { deepMerge, isPlainObject, type PlainObject } from "./merge.ts";
import { applyOverride, parseOverride } from "./overrides.ts";

export interface LoadedConfig {
  /** merged raw values, not yet validated */
  raw: PlainObject;
  /** the file that was loaded (absolute), or "" for an in-memory config */
  file: string;
  /** every file that contributed, base first */
  layers: string[];
  /** plugin sections whose name a --set changed (dotted paths) */
  renamedSections: string[];
}

export function readYamlFile(file: string): PlainObject {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, "", file);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const pos = err.linePos?.[0];
    const at = pos ? `:${pos.line}:${pos.col}` : "";
    throw new ConfigError(`${file}${at}: invalid YAML: ${err.message.split("\n")[0]}`, "", file);
  }
  let value: unknown;
  try {
    // yaml refuses an alias bomb (maxAliasCount) with a ReferenceError; say so as a config error
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(`${file}: cannot read the YAML: ${(e as Error).message}`, "", file);
  }
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) throw new ConfigError(`${file}: the top level must be a mapping`, "", file);
  return value;
}

export function loadConfigFile(file: string, stack: string[] = []): LoadedConfig {
  const abs = resolve(file);
  if (stack.includes(abs)) {
    throw new ConfigError(`config extends itself: ${[...stack, abs].join(" → ")}`, "extends", abs);
  }
  const own = readYamlFile(abs);
  const ext = own.extends;
  delete own.extends;
  let merged: PlainObject = {};
  const layers: string[] = [];
  if (ext !== undefined) {
    const parents = typeof ext === "string" ? [ext] : Array.isArray(ext) ? ext : null;
    if (!parents || parents.some((p) => typeof p !== "string")) {
      throw new ConfigError(`${abs}: extends must be a path or a list of paths, got ${JSON.stringify(ext)}`, "extends", abs);
    }
    for (const p of parents as string[]) {
      const parent = loadConfigFile(resolve(dirname(abs), p), [...stack, abs]);
      merged = deepMerge(merged, parent.raw);
      layers.push(...parent.layers);
    }
  }
  // Plugin module paths are relative to the file that names them.
  if (Array.isArray(own.plugins)) {
    own.plugins = own.plugins.map((p) => (typeof p === "string" && p.startsWith(".") ? resolve(dirname(abs), p) : p));
  }
  merged = deepMerge(merged, own);
  layers.push(abs);
  return { raw: merged, file: abs, layers, renamedSections: [] };
}

/** Load a file (or start from an object) and apply `--set` overrides in order. */
export function loadConfig(source: string | PlainObject, sets: readonly string[] = []): LoadedConfig {
  const loaded: LoadedConfig =
    typeof source === "string" ? loadConfigFile(source) : { raw: structuredClone(source), file: "", layers: [], renamedSections: [] };
  for (const s of sets) {
    const renamed = applyOverride(loaded.raw, parseOverride(s));
    if (renamed !== null && !loaded.renamedSections.includes(renamed)) loaded.renamedSections.push(renamed);
  }
  return loaded;
}
