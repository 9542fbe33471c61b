/**
 * A config value by dotted path, as people name it: `optim.lr`,
 * `model.vision.imageSize`, and into lists of plugin sections by name —
 * `objectives.itc.embedDim` is the `embedDim` of the objective named itc.
 */
import { isPlainObject } from "./merge.ts";

export function configValueAt(config: unknown, path: string): unknown {
  let v: unknown = config;
  for (const key of path.split(".")) {
    if (Array.isArray(v)) v = /^\d+$/.test(key) ? v[Number(key)] : v.find((x) => isPlainObject(x) && x.name === key);
    else if (isPlainObject(v)) v = v[key];
    else return undefined;
  }
  return v;
}
