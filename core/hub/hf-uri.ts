/**
 * `hf://` file addresses and where the Hugging Face cache keeps them — the
 * layout huggingface_hub writes, so files Python tools cached are reused:
 * `$HF_HUB_CACHE` (or `$HF_HOME/hub`, or `~/.cache/huggingface/hub`) /
 * `models--org--name/{blobs/<etag>, snapshots/<commit>/<path>, refs/<revision>}`.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";

export interface HfFile {
  /** `org/name`, or a legacy single-segment name (`bert-base-uncased`) */
  repo: string;
  revision: string;
  /** the file inside the repository */
  path: string;
}

export const isHfUri = (s: string): boolean => s.startsWith("hf://");

/**
 * `hf://org/name[@revision]/path/in/repo`; a legacy single-segment repository
 * as `hf://name[@revision]/file` (two segments) or `hf://name@revision/path…`.
 */
export function parseHfUri(uri: string): HfFile {
  if (!isHfUri(uri)) throw new ConfigError(`${uri}: not an hf:// address`, uri);
  const parts = uri.slice("hf://".length).split("/").filter(Boolean);
  const fail = () => new ConfigError(`${uri}: expected hf://org/name[@revision]/path (or hf://name[@revision]/file)`, uri);
  if (parts.length < 2) throw fail();
  const single = parts.length === 2 || parts[0].includes("@");
  const repoParts = single ? [parts[0]] : [parts[0], parts[1]];
  const rest = parts.slice(repoParts.length);
  const last = repoParts[repoParts.length - 1];
  const at = last.indexOf("@");
  const revision = at >= 0 ? last.slice(at + 1) : "main";
  if (at >= 0) repoParts[repoParts.length - 1] = last.slice(0, at);
  if (rest.length === 0 || !revision || repoParts.some((p) => !p || p.includes("@"))) throw fail();
  return { repo: repoParts.join("/"), revision, path: rest.join("/") };
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, "hub");
  return join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface", "hub");
}

export function repoCacheDir(file: HfFile, env: NodeJS.ProcessEnv = process.env): string {
  return join(hubCacheDir(env), `models--${file.repo.replaceAll("/", "--")}`);
}

export const hubEndpoint = (env: NodeJS.ProcessEnv = process.env): string => (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");

export const hubOffline = (env: NodeJS.ProcessEnv = process.env): boolean => /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? "");
