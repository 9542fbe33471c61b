/** `polyalign checkpoint inspect FILE`: keys, dtypes, shapes and metadata of a safetensors file. */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { readSafetensors } from "../../core/checkpoint/safetensors.ts";
import { UsageError } from "../../core/errors.ts";

export const checkpointCommand: CliCommand = {
  name: "checkpoint",
  summary: "inspect a safetensors checkpoint",
  help: `usage: polyalign checkpoint inspect FILE [--json]

Prints every tensor's name, dtype and shape, the total parameter count and
the file's metadata keys. A truncated or corrupt file is reported with what
is wrong and where.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs("checkpoint", args, { json: { type: "boolean" } }, true);
    const [sub, file] = positionals;
    if (sub !== "inspect" || !file) throw new UsageError("polyalign checkpoint: expected `inspect FILE`");
    const { tensors, metadata } = readSafetensors(file);
    const rows = [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    const total = rows.reduce((n, r) => n + r.shape.reduce((a, b) => a * b, 1), 0);
    if (values.json) {
      io.out(JSON.stringify({ file, tensors: rows, elements: total, metadata: Object.keys(metadata) }, null, 2));
      return 0;
    }
    for (const r of rows) io.out(`${r.name.padEnd(72)} ${r.dtype.padEnd(5)} [${r.shape.join(", ")}]`);
    io.out(`${rows.length} tensors, ${total.toLocaleString("en-US")} elements; metadata: ${Object.keys(metadata).join(", ") || "(none)"}`);
    return 0;
  },
};
