/** `polyalign plugins`: every registered plugin, its kind, description and option defaults. */
import type { z } from "zod";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, stringList } from "../args.ts";
import { loadPluginModules } from "../../core/registry/loader.ts";

/**
 * The options a schema fills in by default; when some options are required,
 * `required: a, b` followed by the defaults of the others (object schemas).
 */
export function schemaDefaults(schema: z.ZodType): Record<string, unknown> | string {
  const r = schema.safeParse({});
  if (r.success) return r.data as Record<string, unknown>;
  const required = r.error.issues.map((i) => i.path.join(".")).filter(Boolean);
  const shape = (schema as { shape?: Record<string, z.ZodType> }).shape;
  const rest = shape
    ? Object.entries(shape).flatMap(([k, field]) => {
        const f = field.safeParse(undefined);
        return f.success && f.data !== undefined ? [`${k}=${JSON.stringify(f.data)}`] : [];
      })
    : [];
  return `required: ${required.join(", ")}${rest.length ? `; ${rest.join(" ")}` : ""}`;
}

export const pluginsCommand: CliCommand = {
  name: "plugins",
  summary: "list registered plugins and their default options",
  help: `usage: polyalign plugins [--plugin MODULE ...] [--json]

Lists every registered plugin by kind, with its description and the options
its schema fills in by default. --plugin loads a user plugin module first
(as a config's plugins: list would).`,
  async run(args, io) {
    const { values } = parseCommandArgs("plugins", args, { json: { type: "boolean" }, plugin: { type: "string", multiple: true } });
    await loadPluginModules(stringList(values.plugin), io.registry);
    const rows = io.registry.list().map((p) => ({
      kind: p.kind.name,
      name: p.name,
      description: p.description,
      source: p.source,
      defaults: schemaDefaults(p.schema),
    }));
    if (values.json) {
      io.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    let kind = "";
    for (const r of rows) {
      if (r.kind !== kind) {
        kind = r.kind;
        io.out(`\n${kind}`);
      }
      const src = r.source === "builtin" ? "" : `  [${r.source}]`;
      io.out(`  ${r.name.padEnd(18)} ${r.description}${src}`);
      const d =
        typeof r.defaults === "string"
          ? r.defaults
          : Object.entries(r.defaults)
              .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
              .join(" ");
      if (d) io.out(`  ${"".padEnd(18)} ${d}`);
    }
    return 0;
  },
};
