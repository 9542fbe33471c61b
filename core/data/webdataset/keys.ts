/**
 * WebDataset's member-name rule (webdataset `base_plus_ext`): the key is every
 * directory component plus the basename up to its first dot; the extension is
 * the rest (it may contain dots) and is lower-cased. A name without a dot in
 * its basename belongs to no sample.
 */
const BASE_PLUS_EXT = /^((?:.*\/|)[^.]+)[.]([^/]*)$/;
const META = /__[^/]*__($|\/)/;

export interface KeyExt {
  key: string;
  ext: string;
}

/** Split a member name; null when it belongs to no sample. */
export function splitMemberName(name: string): KeyExt | null {
  const m = BASE_PLUS_EXT.exec(name);
  if (!m) return null;
  return { key: m[1], ext: m[2].toLowerCase() };
}

/** `__index__/...`, `__meta__`-style members: metadata, never sample content. */
export function isMetaMember(name: string): boolean {
  return META.test(name);
}

/**
 * Why a key cannot be written (or null when it can): the reader must split
 * `key.ext` back into the same key, so no dot in the key's basename, no
 * empty segment, no `..`, no absolute path.
 */
export function keyProblem(key: string): string | null {
  if (key === "") return "empty key";
  if (key.startsWith("/")) return "absolute path";
  const parts = key.split("/");
  if (parts.some((p) => p === "..")) return '".." segment';
  if (parts.some((p) => p === "")) return "empty path segment";
  const base = parts[parts.length - 1];
  if (base.includes(".")) return "dot in the key's basename (the reader would split the key there)";
  if (base.startsWith("__") && base.endsWith("__")) return "reserved metadata name";
  if (key.includes("\0")) return "NUL character";
  return null;
}

export function extProblem(ext: string): string | null {
  if (ext === "") return "empty extension";
  if (ext.includes("/")) return 'extension contains "/"';
  if (ext !== ext.toLowerCase()) return "upper-case extension (readers lower-case it)";
  return null;
}
