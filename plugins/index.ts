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

/** A registry holding every built-in plugin. */
export function builtinRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  registerBuiltinPlugins(registry);
  return registry;
}
