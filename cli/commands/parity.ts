/**
 * `polyalign parity`: ALBEF's configs field by field against polyalign's
 * recipes — the table read from the configs themselves (each resolved through
 * `extends` with its defaults), so it cannot drift from them. A row whose
 * value differs must say why (`note`); one that does not is an error.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { ConfigError } from "../../core/errors.ts";
import { configValueAt } from "../../core/config/value-at.ts";
import { prepareRun } from "../../core/run/prepare-run.ts";

interface ParityRow {
  albef: string;
  field: string;
  value: unknown;
  config: string;
  path: string;
  note?: string;
}

const same = (a: unknown, b: unknown): boolean =>
  typeof a === "number" && typeof b === "number" ? Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a)) : JSON.stringify(a) === JSON.stringify(b);

const show = (v: unknown) => (v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));

export const parityCommand: CliCommand = {
  name: "parity",
  summary: "ALBEF's configs field by field against polyalign's recipes",
  help: `usage: polyalign parity [--table configs/albef-parity.json]

Prints a Markdown table: ALBEF config, field, ALBEF's value, polyalign config and path,
its value, and = or the reason for a deliberate difference. Exit 1 when a value
differs without a reason (or a config cannot be read).`,
  async run(args, io) {
    const { values } = parseCommandArgs("parity", args, { table: { type: "string", default: "configs/albef-parity.json" } });
    const tableFile = resolve(String(values.table));
    let rows: ParityRow[];
    try {
      rows = (JSON.parse(readFileSync(tableFile, "utf8")) as { rows: ParityRow[] }).rows;
    } catch (e) {
      throw new ConfigError(`${tableFile}: ${(e as Error).message}`, "table", tableFile);
    }
    const configs = new Map<string, unknown>();
    const configOf = async (name: string) => {
      if (!configs.has(name)) configs.set(name, (await prepareRun(io.registry, resolve(dirname(tableFile), name), { log: io.log })).config);
      return configs.get(name);
    };
    io.out("| ALBEF | field | ALBEF's value | polyalign | path | value | |");
    io.out("| --- | --- | --- | --- | --- | --- | --- |");
    const undocumented: string[] = [];
    for (const r of rows) {
      const ours = configValueAt(await configOf(r.config), r.path);
      const ok = same(r.value, ours);
      if (!ok && !r.note) undocumented.push(`${r.albef} ${r.field} = ${show(r.value)}, but ${r.config} ${r.path} = ${show(ours)}`);
      io.out(
        `| ${r.albef} | ${r.field} | ${show(r.value)} | ${r.config} | \`${r.path}\` | ${show(ours)} | ${ok ? "=" : (r.note ?? "**differs, no reason given**")} |`,
      );
    }
    for (const u of undocumented) io.log.error(`parity: ${u}`);
    return undocumented.length === 0 ? 0 : 1;
  },
};
