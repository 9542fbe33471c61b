/**
 * Deep merge for layered configs: objects merge key by key, everything else
 * (arrays too) is replaced. A plugin section (`{ name, ...options }`) whose
 * name changes is replaced whole: options of one plugin mean nothing to another.
 */
export type PlainObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is PlainObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

export function deepMerge(base: PlainObject, over: PlainObject): PlainObject {
  const out: PlainObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const renamed = isPlainObject(b) && isPlainObject(v) && "name" in v && "name" in b && v.name !== b.name;
    out[k] = isPlainObject(b) && isPlainObject(v) && !renamed ? deepMerge(b, v) : cloneValue(v);
  }
  return out;
}

export function cloneValue<T>(v: T): T {
  return v === undefined ? v : (structuredClone(v) as T);
}
