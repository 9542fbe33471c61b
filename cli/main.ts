/**
 * The `polyalign` command. The CLI is the top of the dependency rule
 * (cli → plugins → core): it loads the built-in plugin list.
 */
import { builtinRegistry } from "../plugins/index.ts";
import { PolyalignError, UsageError, ConfigError } from "../core/errors.ts";
import { createLogger } from "../core/log.ts";
import type { CliCommand, CliIo } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";

function overview(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: polyalign <command> [options]     (polyalign <command> --help for details)",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

export async function runCli(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const out = io?.out ?? ((line: string) => process.stdout.write(line + "\n"));
  const log = io?.log ?? createLogger();
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const target = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    out(target ? target.help : overview(COMMANDS));
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    out(`polyalign: unknown command "${name}"\n\n${overview(COMMANDS)}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    out(command.help);
    return 0;
  }
  try {
    return await command.run(rest, { out, log, registry: io?.registry ?? builtinRegistry() });
  } catch (e) {
    if (e instanceof UsageError) {
      out(`${e.message}\n\n${command.help}`);
      return 2;
    }
    if (e instanceof PolyalignError) {
      out(`polyalign ${name}: ${e.message}`);
      return e instanceof ConfigError ? 2 : 1;
    }
    throw e;
  }
}
