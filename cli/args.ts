/** Argument parsing on node:util parseArgs, with errors that name the flag. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../core/errors.ts";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = false,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`polyalign ${command}: ${(e as Error).message}`);
  }
}

export function requireString(command: string, values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`polyalign ${command}: --${name} is required`);
  return v;
}

export function stringList(v: unknown): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

/** `--name`'s value as an integer ≥ min (a UsageError naming the flag otherwise); undefined when absent. */
export function integerOption(command: string, values: Record<string, unknown>, name: string, min = 0): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new UsageError(`polyalign ${command}: --${name} must be an integer ≥ ${min}, got "${String(v)}"`);
  }
  return n;
}
