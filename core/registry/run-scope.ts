/**
 * A run scope: a tsyringe child container per run, in which each plugin kind's
 * token resolves to the plugin the config names (built once, on first use).
 * Two runs in one process never share plugin instances.
 */
import "reflect-metadata";
import { container as rootContainer, type DependencyContainer, instanceCachingFactory } from "tsyringe";
import type { RunConfig } from "../config/schema.ts";
import { validateSection } from "../config/validate.ts";
import type { PlainObject } from "../config/merge.ts";
import type { Logger } from "../log.ts";
import { Rng } from "../tensor/rng.ts";
import { PluginError } from "../errors.ts";
import { Fusion, type PluginKind, Task, TextEncoder, Tokenizer, VisionEncoder } from "./kinds/index.ts";
import type { PluginContext, PluginRegistry } from "./registry.ts";

export interface RunScope {
  readonly container: DependencyContainer;
  readonly registry: PluginRegistry;
  readonly config: RunConfig;
  readonly log: Logger;
  /** The configured plugin of a kind (built once per run); a PluginError when the config names none. */
  resolve<T>(kind: PluginKind<T>): T;
  /**
   * A new plugin of `kind` from `section` (validated), its random stream
   * derived from the run seed and `label` — e.g. a momentum copy
   * (`model.vision_m`) or one model's objectives (`objectives.0`).
   */
  create<T>(kind: PluginKind<T>, section: PlainObject, label: string): T;
}

export function createRunScope(registry: PluginRegistry, config: RunConfig, log: Logger): RunScope {
  const container = rootContainer.createChildContainer();

  const scope: RunScope = {
    container,
    registry,
    config,
    log,
    resolve<T>(kind: PluginKind<T>): T {
      if (!container.isRegistered(kind.token)) {
        throw new PluginError(`this run's config selects no ${kind.name} plugin`);
      }
      return container.resolve<T>(kind.token);
    },
    create<T>(kind: PluginKind<T>, section: PlainObject, label: string): T {
      const valid = validateSection(registry, kind, section, label);
      const { name, ...options } = valid;
      const plugin = registry.get(kind, String(name));
      const ctx: PluginContext = {
        resolve: (k) => scope.resolve(k),
        log: log.child(`${kind.name}:${String(name)}`),
        rng: Rng.derive(config.seed, `${label}:${String(name)}`),
      };
      return plugin.create(options, ctx);
    },
  };

  const bind = <T>(kind: PluginKind<T>, section: PlainObject | undefined, label: string) => {
    if (!section) return;
    container.register(kind.token, { useFactory: instanceCachingFactory<T>(() => scope.create(kind, section, label)) });
  };
  bind(VisionEncoder, config.model?.vision, "model.vision");
  bind(TextEncoder, config.model?.text, "model.text");
  bind(Fusion, config.model?.fusion, "model.fusion");
  bind(Task, config.task, "task");
  bind(Tokenizer, config.tokenizer, "tokenizer");
  return scope;
}
