/**
 * The `polyalign` command. The CLI is the top of the dependency rule
 * (cli → plugins → core): it loads the built-in plugin list.
 */
import { builtinRegistry } from "../plugins/index.ts";
import { ConfigError, InterruptedError, PolyalignError, UsageError } from "../core/errors.ts";
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

/** A failure of the file system or the OS (EACCES, ENOSPC, ENOENT, ...): its message names the call and the path. */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string" && typeof (e as NodeJS.ErrnoException).syscall === "string";
}

/**
 * Runs one command. Every failure ends in one line naming what and where and
 * an exit code ≠ 0: 2 for usage and config errors, 1 for bad data, files and
 * the system, 70 (EX_SOFTWARE) for what polyalign did not foresee — and, with
 * `--debug` (or POLYALIGN_DEBUG=1), the stack trace after it.
 */
export async function runCli(argvIn: string[], io?: Partial<CliIo>): Promise<number> {
  const out = io?.out ?? ((line: string) => process.stdout.write(line + "\n"));
  const log = io?.log ?? createLogger();
  const debug = argvIn.includes("--debug") || process.env.POLYALIGN_DEBUG === "1";
  const argv = argvIn.filter((a) => a !== "--debug");
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
    const code = exitCodeOf(e);
    if (e instanceof UsageError) out(`${e.message}\n\n${command.help}`);
    else if (e instanceof PolyalignError || isSystemError(e)) out(`polyalign ${name}: ${e.message}`);
    else
      out(
        `polyalign ${name}: unexpected error: ${e instanceof Error ? e.message : String(e)} (a bug in polyalign or a plugin; --debug prints the stack trace)`,
      );
    if (debug && e instanceof Error && e.stack) out(e.stack);
    return code;
  }
}

function exitCodeOf(e: unknown): number {
  if (e instanceof InterruptedError) return e.exitCode;
  if (e instanceof UsageError || e instanceof ConfigError) return 2;
  if (e instanceof PolyalignError || isSystemError(e)) return 1;
  return 70;
}
