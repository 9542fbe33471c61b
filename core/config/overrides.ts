/**
 * `--set a.b=c` overrides. Values are parsed as YAML scalars/flow values, so
 * `--set model.fusion.knn=8`, `--set data.train="shards/x-{0..3}.tar"` and
 * `--set model.fusion.hypergraphLayers=[0,2]` all do what they say. In a list
 * of plugin sections a segment may name the plugin: `objectives.itm.weight=2`.
 */
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../errors.ts";
import { isPlainObject, type PlainObject } from "./merge.ts";

export interface Override {
  path: string[];
  value: unknown;
  raw: string;
}

export function parseOverride(raw: string): Override {
  const eq = raw.indexOf("=");
  if (eq <= 0) throw new ConfigError(`--set "${raw}": expected key.path=value`, "");
  const key = raw.slice(0, eq).trim();
  const text = raw.slice(eq + 1);
  const path = key.split(".");
  if (path.some((p) => p === "")) throw new ConfigError(`--set "${raw}": empty segment in "${key}"`, key);
  let value: unknown;
  try {
    value = text === "" ? "" : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`--set "${raw}": cannot parse value: ${(e as Error).message.split("\n")[0]}`, key);
  }
  return { path, value, raw };
}

/**
 * Apply one override. Returns the dotted path of the plugin section whose
 * `name` it changed (so that options the new plugin lacks can be dropped), or null.
 */
export function applyOverride(config: PlainObject, o: Override): string | null {
  let node: unknown = config;
  const resolved: string[] = [];
  for (let i = 0; i < o.path.length; i++) {
    const seg = o.path[i];
    const last = i === o.path.length - 1;
    const where = o.path.slice(0, i + 1).join(".");
    if (Array.isArray(node)) {
      const idx = /^\d+$/.test(seg) ? Number(seg) : node.findIndex((e) => isPlainObject(e) && e.name === seg);
      if (idx < 0 || idx > node.length || (idx === node.length && !last)) {
        const names = node.map((e, j) => (isPlainObject(e) && typeof e.name === "string" ? e.name : String(j)));
        throw new ConfigError(`--set ${o.raw}: no element "${seg}" in ${o.path.slice(0, i).join(".")} (has: ${names.join(", ")})`, where);
      }
      if (last) {
        node[idx] = o.value;
        return null;
      }
      node = node[idx];
      resolved.push(String(idx));
      continue;
    }
    if (!isPlainObject(node)) {
      throw new ConfigError(`--set ${o.raw}: ${o.path.slice(0, i).join(".")} is not an object`, where);
    }
    if (last) {
      const renamed = seg === "name" && i > 0 && typeof node.name === "string" && node.name !== o.value;
      node[seg] = o.value;
      return renamed ? resolved.join(".") : null;
    } else {
      if (node[seg] === undefined) node[seg] = {};
      node = node[seg];
      resolved.push(seg);
    }
  }
  return null;
}
