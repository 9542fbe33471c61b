/** The first of `files` that exists and loads as a Node-API addon, or every reason none did. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

export function requireFirstAddon<T>(files: readonly string[]): { addon: T; file: string } | { addon: null; tried: string } {
  const tried: string[] = [];
  for (const file of files) {
    if (!existsSync(file)) {
      tried.push(`${file}: not built`);
      continue;
    }
    try {
      return { addon: createRequire(import.meta.url)(file) as T, file };
    } catch (e) {
      tried.push(`${file}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  return { addon: null, tried: tried.join("; ") };
}
