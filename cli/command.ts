/** The shape of a `polyalign` sub-command. Later features add commands to the list in commands/index.ts. */
import type { PluginRegistry } from "../core/registry/registry.ts";
import type { Logger } from "../core/log.ts";

export interface CliIo {
  out(line: string): void;
  log: Logger;
  /** a registry holding the built-in plugins */
  registry: PluginRegistry;
}

export interface CliCommand {
  name: string;
  summary: string;
  /** full help text: usage line, options, examples */
  help: string;
  run(args: string[], io: CliIo): Promise<number>;
}
