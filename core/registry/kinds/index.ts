/** The plugin kinds, one file each; `ALL_KINDS` in the order `polyalign plugins` lists them. */
import { Backend } from "./backend.ts";
import type { PluginKind } from "./define.ts";
import { TextEncoder, VisionEncoder } from "./encoders.ts";
import { Fusion } from "./fusion.ts";
import { Objective } from "./objective.ts";
import { Task } from "./task.ts";
import { Tokenizer } from "./tokenizer.ts";

export * from "./define.ts";
export * from "./encoders.ts";
export * from "./fusion.ts";
export * from "./objective.ts";
export * from "./task.ts";
export * from "./tokenizer.ts";
export * from "./backend.ts";

export const ALL_KINDS: readonly PluginKind<unknown>[] = [
  VisionEncoder,
  TextEncoder,
  Fusion,
  Objective,
  Task,
  Tokenizer,
  Backend,
] as readonly PluginKind<unknown>[];
