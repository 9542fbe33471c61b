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
import { Fusion, ImageDecoder, Objective, type PluginKind, Task, TextEncoder, Tokenizer, VisionEncoder } from "./kinds.ts";
import type { PluginContext, PluginRegistry } from "./registry.ts";

export const RegistryToken = Symbol.for("polyalign.Registry");
export const ConfigToken = Symbol.for("polyalign.RunConfig");
export const LoggerToken = Symbol.for("polyalign.Logger");
export const ObjectivesToken = Symbol.for("polyalign.Objectives");

export interface RunScope {
  readonly container: DependencyContainer;
  readonly registry: PluginRegistry;
  readonly config: RunConfig;
  readonly log: Logger;
  /** The configured plugin of a kind; a PluginError when the config names none. */
  resolve<T>(kind: PluginKind<T>): T;
  /** The configured objectives, in config order. */
  objectives(): Objective[];
  /** Build a plugin of `kind` from a section outside the config's usual places. */
  create<T>(kind: PluginKind<T>, section: PlainObject, label: string): T;
}

export function createRunScope(registry: PluginRegistry, config: RunConfig, log: Logger): RunScope {
  const container = rootContainer.createChildContainer();
  container.register(RegistryToken, { useValue: registry });
  container.register(ConfigToken, { useValue: config });
  container.register(LoggerToken, { useValue: log });

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
    objectives(): Objective[] {
      return container.resolve<Objective[]>(ObjectivesToken);
    },
    create<T>(kind: PluginKind<T>, section: PlainObject, label: string): T {
      const valid = validateSection(registry, kind, section, label);
      const { name, ...options } = valid;
      const plugin = registry.get(kind, String(name));
      const ctx: PluginContext = {
        container,
        resolve: (k) => scope.resolve(k),
        log: log.child(`${kind.name}:${String(name)}`),
        rng: Rng.derive(config.seed, `${label}:${String(name)}`),
      };
      return plugin.create(options, ctx) as T;
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
  bind(ImageDecoder, config.imageDecoder, "imageDecoder");
  container.register(ObjectivesToken, {
    useFactory: instanceCachingFactory<Objective[]>(() =>
      config.objectives.map((o, i) => scope.create(Objective, o, `objectives.${i}`)),
    ),
  });
  return scope;
}
