/**
 * From a config file (or object) and `--set` overrides to a validated config
 * and a run scope: load the YAML layers, load the user plugin modules it
 * lists, validate every section, build the per-run container.
 */
import { dirname } from "node:path";
import { loadConfig } from "../config/load.ts";
import type { PlainObject } from "../config/merge.ts";
import type { RunConfig } from "../config/schema.ts";
import { validateConfig } from "../config/validate.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { loadPluginModules } from "../registry/loader.ts";
import type { PluginRegistry } from "../registry/registry.ts";
import { createRunScope, type RunScope } from "../registry/run-scope.ts";
import { Backend } from "../registry/kinds/index.ts";
import { type BackendInfo, selectBackend } from "../tensor/backend.ts";

export interface PreparedRun {
  config: RunConfig;
  scope: RunScope;
  /** the config file, "" for an in-memory config */
  file: string;
}

export async function prepareRun(
  registry: PluginRegistry,
  source: string | PlainObject,
  opts: { sets?: readonly string[]; log: Logger },
): Promise<PreparedRun> {
  const loaded = loadConfig(source, opts.sets ?? []);
  const plugins = loaded.raw.plugins;
  if (plugins !== undefined) {
    if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== "string")) {
      throw new ConfigError(`config: plugins: expected a list of module paths (got ${JSON.stringify(plugins)})`, "plugins", loaded.file);
    }
    const base = loaded.file ? dirname(loaded.file) : process.cwd();
    const done = await loadPluginModules(plugins as string[], registry, base);
    for (const m of done) opts.log.info(`loaded plugin module ${m}`);
  }
  const config = validateConfig(loaded.raw, registry, {
    file: loaded.file,
    swapped: loaded.renamedSections,
    onDrop: (path, dropped) => opts.log.warn(`${path}: plugin swapped by --set; dropped options it does not take: ${dropped.join(", ")}`),
  });
  return { config, scope: createRunScope(registry, config, opts.log), file: loaded.file };
}

/** Activate the backend a config asks for, among the registered Backend plugins. */
export async function activateBackend(scope: RunScope, threads?: number): Promise<BackendInfo> {
  const providers = scope.registry.names(Backend).map((name) => scope.create(Backend, { name }, "backend"));
  return selectBackend(scope.config.backend, providers, { threads: threads ?? scope.config.threads, log: scope.log });
}
