/**
 * The built-in plugin list. The CLI and the spec helpers call this; nothing
 * registers itself on import.
 */
import { PluginRegistry, registerCorePlugins } from "../core/index.ts";
import { registerEncoders } from "./encoders/index.ts";
import { registerFusion } from "./fusion/index.ts";
import { registerObjectives } from "./objectives/index.ts";
import { registerTasks } from "./tasks/index.ts";

export function registerBuiltinPlugins(registry: PluginRegistry): void {
  registerCorePlugins(registry);
  registerEncoders(registry);
  registerFusion(registry);
  registerObjectives(registry);
  registerTasks(registry);
}

/**
 * polyalign's core API as a module URL: what user plugin modules are handed
 * (the compiled `.js` on Node, the `.ts` source on Deno), in the main thread
 * and in the data workers alike.
 */
export const CORE_API_MODULE = new URL(import.meta.url.endsWith(".ts") ? "../core/index.ts" : "../core/index.js", import.meta.url).href;

/** A registry holding every built-in plugin, handing user plugin modules polyalign's core API. */
export function builtinRegistry(): PluginRegistry {
  const registry = new PluginRegistry({ apiModule: CORE_API_MODULE });
  registerBuiltinPlugins(registry);
  return registry;
}
