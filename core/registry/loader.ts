/**
 * Loading user plugin modules named in a config's `plugins:` list. A plugin
 * module's default export is a function called with the registry and the
 * polyalign core API (use that API's `tf`, so the plugin shares the engine):
 *
 *   export default function register(registry, polyalign) {
 *     registry.registerPlugin({ kind: polyalign.Fusion, name: "mine", schema, create });
 *   }
 *
 * (An object with a `register(registry, polyalign)` method works too.)
 */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { PluginError } from "../errors.ts";
import type { PluginRegistry } from "./registry.ts";

export type RegisterFn = (registry: PluginRegistry, api: unknown) => void | Promise<void>;

const loaded = new WeakMap<PluginRegistry, Set<string>>();

function registerFnOf(mod: unknown): RegisterFn | null {
  const d = (mod as { default?: unknown }).default;
  if (typeof d === "function") return d as RegisterFn;
  if (d && typeof (d as { register?: unknown }).register === "function") {
    const obj = d as { register: RegisterFn };
    return (r, a) => obj.register(r, a);
  }
  return null;
}

/** The namespace of the registry's API module (polyalign's core API), imported once. */
async function pluginApi(registry: PluginRegistry): Promise<unknown> {
  if (!registry.apiModule) {
    throw new PluginError("this plugin registry has no API module to hand user plugin modules (builtinRegistry() sets polyalign's core API)");
  }
  return import(registry.apiModule);
}

/**
 * Import each module (paths relative to `baseDir`) and let it register its
 * plugins, handing it the registry's API module; each module once per registry.
 */
export async function loadPluginModules(specifiers: readonly string[], registry: PluginRegistry, baseDir = process.cwd()): Promise<string[]> {
  const done = loaded.get(registry) ?? new Set<string>();
  loaded.set(registry, done);
  const out: string[] = [];
  for (const spec of specifiers) {
    const isPath = spec.startsWith(".") || isAbsolute(spec);
    const target = isPath ? resolve(baseDir, spec) : spec;
    if (done.has(target)) continue;
    if (isPath && !existsSync(target)) {
      throw new PluginError(`plugin module not found: ${target} (listed in the config's plugins: as "${spec}")`);
    }
    let mod: unknown;
    try {
      mod = await import(isPath ? pathToFileURL(target).href : target);
    } catch (e) {
      throw new PluginError(`plugin module ${target} failed to load: ${(e as Error).message}`, { cause: e });
    }
    const fn = registerFnOf(mod);
    if (!fn) {
      throw new PluginError(`plugin module ${target} has no default export to call; export default function register(registry, polyalign) { ... }`);
    }
    const before = registry.currentSource;
    registry.currentSource = target;
    try {
      await fn(registry, await pluginApi(registry));
    } catch (e) {
      if (e instanceof PluginError) throw e;
      throw new PluginError(`plugin module ${target} threw while registering: ${(e as Error).message}`, { cause: e });
    } finally {
      registry.currentSource = before;
    }
    done.add(target);
    out.push(target);
  }
  return out;
}
