/** `polyalign tokenize`: token ids for a JSON list of texts under any tokenizer config. */
import { readFileSync } from "node:fs";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, stringList } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { Tokenizer } from "../../core/registry/kinds/index.ts";
import { loadPluginModules } from "../../core/registry/loader.ts";
import { createRunScope } from "../../core/registry/run-scope.ts";
import { RootConfigSchema } from "../../core/config/schema.ts";
import { preCaption } from "../../core/data/text/clean.ts";
import { parseOverride } from "../../core/config/overrides.ts";

export const tokenizeCommand: CliCommand = {
  name: "tokenize",
  summary: "token ids for a JSON list of texts, under any tokenizer config",
  help: `usage: polyalign tokenize TEXTS.json [--tokenizer NAME] [--vocab FILE | --model FILE] [--albef | --no-albef]
                          [--max-length N] [--option key=value ...] [--clean] [--plugin MODULE ...]

Reads a JSON list of strings (TEXTS.json, or - for standard input) and prints
one JSON object per text: {"text", "ids", "length"}. --clean applies ALBEF's
pre_caption first. Options go to the tokenizer plugin (wordpiece: vocab,
lowercase, albef, maxLength; sentencepiece: model, lowercase, albef, maxLength).

example: polyalign tokenize captions.json --tokenizer wordpiece --vocab ../shared/data/tokenizers/bert-base-uncased/vocab.txt --albef`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "tokenize",
      args,
      {
        tokenizer: { type: "string", default: "wordpiece" },
        vocab: { type: "string" },
        model: { type: "string" },
        albef: { type: "boolean" },
        "no-albef": { type: "boolean" },
        "max-length": { type: "string" },
        option: { type: "string", multiple: true },
        clean: { type: "boolean" },
        plugin: { type: "string", multiple: true },
      },
      true,
    );
    if (positionals.length !== 1) throw new UsageError("polyalign tokenize: give the JSON file of texts (or -)");
    const source = positionals[0] === "-" ? readFileSync(0, "utf8") : readFileSync(positionals[0], "utf8");
    let texts: unknown;
    try {
      texts = JSON.parse(source);
    } catch (e) {
      throw new UsageError(`polyalign tokenize: ${positionals[0]} is not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string"))
      throw new UsageError(`polyalign tokenize: ${positionals[0]} must hold a JSON list of strings`);
    const section: Record<string, unknown> = { name: values.tokenizer };
    if (values.vocab) section.vocab = values.vocab;
    if (values.model) section.model = values.model;
    if (values.albef) section.albef = true;
    if (values["no-albef"]) section.albef = false;
    if (values["max-length"]) section.maxLength = Number(values["max-length"]);
    for (const o of stringList(values.option)) {
      const { path, value } = parseOverride(o);
      section[path.join(".")] = value;
    }
    await loadPluginModules(stringList(values.plugin), io.registry);
    const scope = createRunScope(io.registry, RootConfigSchema.parse({}), io.log);
    const tok = scope.create(Tokenizer, section, "tokenizer");
    await tok.init?.();
    for (const raw of texts as string[]) {
      const text = values.clean ? preCaption(raw) : raw;
      const enc = tok.encode([text]);
      const n = enc.mask.reduce((a, b) => a + b, 0);
      io.out(JSON.stringify({ text, ids: [...enc.ids.subarray(0, n)], length: n }));
    }
    return 0;
  },
};
