/** `polyalign checkpoint inspect|convert`: any supported weights file (safetensors, PyTorch .pth/.bin, a sharded index). */
import { existsSync } from "node:fs";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { toAlbefStateDict } from "../../core/checkpoint/albef-names.ts";
import { resolveWeightsFile } from "../../core/checkpoint/initial-weights.ts";
import { readWeights } from "../../core/checkpoint/weights-file.ts";
import { writeSafetensors } from "../../core/checkpoint/safetensors.ts";
import { UsageError } from "../../core/errors.ts";

export const checkpointCommand: CliCommand = {
  name: "checkpoint",
  summary: "inspect a weights file, convert one to safetensors, export a run under ALBEF's names",
  help: `usage: polyalign checkpoint inspect FILE [--key K] [--json]
       polyalign checkpoint convert FILE --out OUT.safetensors [--key K] [--force]
       polyalign checkpoint export RUN --out OUT.safetensors [--layout albef|polyalign] [--force]

FILE: safetensors, a PyTorch file (torch.save's zip format or the legacy one:
.pth, .pt, HF pytorch_model.bin) or a sharded index (*.safetensors.index.json,
pytorch_model.bin.index.json). PyTorch files are read without Python by a
restricted unpickler that knows only state-dict types and refuses every other
pickled global by name: nothing in the file is executed. The state dict is
taken from the top level or from a {model: ...} / {state_dict: ...} wrapper
(--key names another).

inspect prints every tensor's name, dtype and shape, the total element count,
the format and the metadata keys. convert writes the tensors, unchanged, to
OUT.safetensors (atomically; an existing OUT needs --force).

export writes a run's model (RUN: a run folder, a checkpoint folder or a
weights file) to one safetensors file; --layout albef (the default) under
ALBEF's state-dict names and in the layout of the matching ALBEF model
(pre-training; retrieval/grounding, NLVR2 and VQA with their plain BertModel
text encoder), so that ALBEF's PyTorch code loads it:
  sd = safetensors.torch.load_file("OUT.safetensors")
  model.load_state_dict(sd, strict=False)   # no missing keys
A hypergraph fusion's branch has no ALBEF counterpart and is listed as
unexpected there.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "checkpoint",
      args,
      { json: { type: "boolean" }, key: { type: "string" }, out: { type: "string" }, force: { type: "boolean" }, layout: { type: "string", default: "albef" } },
      true,
    );
    const [sub, file] = positionals;
    if (!["inspect", "convert", "export"].includes(sub ?? "") || !file)
      throw new UsageError("polyalign checkpoint: expected `inspect FILE`, `convert FILE --out OUT.safetensors` or `export RUN --out OUT.safetensors`");
    const key = values.key as string | undefined;
    if (sub === "export") {
      const out = outFile("export", values.out as string | undefined, Boolean(values.force));
      const layout = String(values.layout);
      if (layout !== "albef" && layout !== "polyalign")
        throw new UsageError(`polyalign checkpoint export: --layout must be albef or polyalign, got "${layout}"`);
      const source = resolveWeightsFile(file);
      const w = readWeights(source);
      if (layout === "polyalign") {
        writeSafetensors(out, w.tensors, { exported_from: source, layout });
        io.out(`${out}: ${w.tensors.size} tensors from ${source} (polyalign names)`);
        return 0;
      }
      const albef = toAlbefStateDict(w.tensors);
      writeSafetensors(out, albef.tensors, { exported_from: source, layout, fusion_layer: String(albef.fusionStart) });
      io.out(`${out}: ${albef.tensors.size} tensors from ${source} under ALBEF's names (fusion_layer ${albef.fusionStart})`);
      if (albef.extra.length > 0)
        io.out(
          `${albef.extra.length} of them (the hypergraph branch) have no counterpart in ALBEF's model: load_state_dict(strict=False) lists them as unexpected`,
        );
      return 0;
    }
    if (sub === "convert") {
      const out = outFile("convert", values.out as string | undefined, Boolean(values.force));
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

function outFile(sub: string, out: string | undefined, force: boolean): string {
  if (!out) throw new UsageError(`polyalign checkpoint ${sub}: --out OUT.safetensors is required`);
  if (existsSync(out) && !force) throw new UsageError(`polyalign checkpoint ${sub}: ${out} exists (use --force to replace it)`);
  return out;
}
