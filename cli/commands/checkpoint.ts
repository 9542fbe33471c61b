/** `polyalign checkpoint inspect|convert`: any supported weights file (safetensors, PyTorch .pth/.bin, a sharded index). */
import { existsSync } from "node:fs";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { readWeights } from "../../core/checkpoint/weights-file.ts";
import { writeSafetensors } from "../../core/checkpoint/safetensors.ts";
import { UsageError } from "../../core/errors.ts";

export const checkpointCommand: CliCommand = {
  name: "checkpoint",
  summary: "inspect a weights file, or convert one to safetensors",
  help: `usage: polyalign checkpoint inspect FILE [--key K] [--json]
       polyalign checkpoint convert FILE --out OUT.safetensors [--key K] [--force]

FILE: safetensors, a PyTorch file (torch.save's zip format or the legacy one:
.pth, .pt, HF pytorch_model.bin) or a sharded index (*.safetensors.index.json,
pytorch_model.bin.index.json). PyTorch files are read without Python by a
restricted unpickler that knows only state-dict types and refuses every other
pickled global by name: nothing in the file is executed. The state dict is
taken from the top level or from a {model: ...} / {state_dict: ...} wrapper
(--key names another).

inspect prints every tensor's name, dtype and shape, the total element count,
the format and the metadata keys. convert writes the tensors, unchanged, to
OUT.safetensors (atomically; an existing OUT needs --force).`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "checkpoint",
      args,
      { json: { type: "boolean" }, key: { type: "string" }, out: { type: "string" }, force: { type: "boolean" } },
      true,
    );
    const [sub, file] = positionals;
    if ((sub !== "inspect" && sub !== "convert") || !file)
      throw new UsageError("polyalign checkpoint: expected `inspect FILE` or `convert FILE --out OUT.safetensors`");
    const key = values.key as string | undefined;
    if (sub === "convert") {
      const out = values.out as string | undefined;
      if (!out) throw new UsageError("polyalign checkpoint convert: --out OUT.safetensors is required");
      if (existsSync(out) && !values.force) throw new UsageError(`polyalign checkpoint convert: ${out} exists (use --force to replace it)`);
      const w = readWeights(file, { key });
      writeSafetensors(out, w.tensors, { ...w.metadata, converted_from: file, ...(w.key ? { state_dict_key: w.key } : {}) });
      io.out(`${out}: ${w.tensors.size} tensors from ${file} (${w.format}${w.key ? `, under "${w.key}"` : ""})`);
      return 0;
    }
    const w = readWeights(file, { key });
    const rows = [...w.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    const total = rows.reduce((n, r) => n + r.shape.reduce((a, b) => a * b, 1), 0);
    if (values.json) {
      io.out(JSON.stringify({ file, format: w.format, key: w.key, tensors: rows, elements: total, metadata: Object.keys(w.metadata) }, null, 2));
      return 0;
    }
    for (const r of rows) io.out(`${r.name.padEnd(72)} ${r.dtype.padEnd(5)} [${r.shape.join(", ")}]`);
    io.out(
      `${rows.length} tensors, ${total.toLocaleString("en-US")} elements; ${w.format}${w.key ? ` (state dict under "${w.key}")` : ""}; metadata: ${Object.keys(w.metadata).join(", ") || "(none)"}`,
    );
    return 0;
  },
};
