/** Paths in configs that may be `hf://` addresses: fetched into the Hugging Face cache, a sharded index with its shards. */
import { readFileSync } from "node:fs";
import type { Logger } from "../log.ts";
import { isHfUri, parseHfUri } from "./hf-uri.ts";
import { type HubDownloadOptions, hubFile } from "./hub-download.ts";

/** `path` itself, or for an `hf://` address the cached local file (an index's shards fetched beside it). */
export async function resolveHubPath(path: string, opts: HubDownloadOptions = {}): Promise<string> {
  if (!isHfUri(path)) return path;
  const local = await hubFile(path, opts);
  if (path.endsWith(".index.json")) {
    const { repo, revision, path: inRepo } = parseHfUri(path);
    const folder = inRepo.includes("/") ? `${inRepo.slice(0, inRepo.lastIndexOf("/"))}/` : "";
    const map = (JSON.parse(readFileSync(local, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {};
    for (const shard of new Set(Object.values(map))) await hubFile(`hf://${repo}@${revision}/${folder}${shard}`, opts);
  }
  return local;
}

/** Every string of an init spec (a path, or parts) resolved as `resolveHubPath` does. */
export async function resolveHubPaths<T extends string | { [K in keyof T]?: string }>(init: T, log?: Logger): Promise<T> {
  if (typeof init === "string") return (await resolveHubPath(init, { log })) as T;
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(init as Record<string, string | undefined>)) out[k] = v === undefined ? v : await resolveHubPath(v, { log });
  return out as T;
}
