/**
 * The wall between core and plugins, beyond imports (which dependency-cruiser
 * checks): no code under core/ names a built-in plugin — no string literal
 * equals a plugin name registered from plugins/ (`itc`, `hypergraph`,
 * `nlvr`, ...), no identifier equals a symbol plugins/ exports
 * (`LayeredFusion`, `ItcObjective`, ...). Comments may cite them as examples.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { PluginRegistry, registerCorePlugins } from "../../core/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { REPO_ROOT } from "../helpers.ts";
import { sourceTokens } from "./source-tokens.ts";

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === "build" || n === "node_modules" ? [] : tsFiles(p);
    return n.endsWith(".ts") && !n.endsWith(".d.ts") ? [p] : [];
  });
}

/** Plugin names registered by plugins/ (core's own backends and tokenizers excluded). */
function pluginNames(): Set<string> {
  const core = new PluginRegistry();
  registerCorePlugins(core);
  const own = new Set(core.list().map((p) => `${p.kind.name}:${p.name}`));
  return new Set(
    builtinRegistry()
      .list()
      .filter((p) => !own.has(`${p.kind.name}:${p.name}`))
      .map((p) => p.name),
  );
}

/** Every symbol a file under plugins/ exports. */
function pluginSymbols(): Set<string> {
  const out = new Set<string>();
  for (const f of tsFiles(join(REPO_ROOT, "plugins"))) {
    for (const m of readFileSync(f, "utf8").matchAll(/^export (?:abstract )?(?:class|function|const|let|interface|type|enum) (\w+)/gm)) out.add(m[1]);
  }
  return out;
}

/**
 * The one place core spells a task's name: the built-in data set keys its
 * image-pair samples `nlvr<split>…` (and names the split `nlvr-train`); the
 * keys seed each sample's augmentation, so renaming them would change the data.
 */
const ALLOWED = new Set(["core/data/synth/build.ts:nlvr"]);

function violations(files: string[], names: Set<string>, symbols: Set<string>): string[] {
  const found: string[] = [];
  for (const f of files) {
    const where = relative(REPO_ROOT, f);
    const t = sourceTokens(readFileSync(f, "utf8"));
    for (const s of t.strings)
      if (names.has(s.value) && !ALLOWED.has(`${where}:${s.value}`)) found.push(`${where}:${s.line}: string "${s.value}" names a plugin`);
    for (const id of t.identifiers) if (symbols.has(id.name)) found.push(`${where}:${id.line}: ${id.name} is a plugin's symbol`);
  }
  return found;
}

describe("checks: core knows no concrete plugin", () => {
  it("the lexer sees strings and identifiers of code, not of comments or regexes", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal, for the lexer
    const code = 'const a = "itc" + `x ${LayeredFusion} y`;';
    const t = sourceTokens(['// "itc" in a comment', "/* LayeredFusion */", code, 'const r = /"itm"/.test(a);'].join("\n"));
    assert.deepEqual(
      t.strings.map((s) => s.value),
      ["itc", "x ", " y"],
    );
    assert.ok(t.identifiers.some((i) => i.name === "LayeredFusion" && i.line === 3));
    assert.ok(!t.strings.some((s) => s.value === "itm"), "regex contents are not strings");
  });

  it("finds a plugin's name or symbol where one is used (the check is live)", () => {
    const names = pluginNames();
    const symbols = pluginSymbols();
    assert.ok(names.has("hypergraph") && names.has("itc") && names.has("nlvr") && !names.has("wordpiece"), [...names].join());
    assert.ok(symbols.has("LayeredFusion") && symbols.has("ItcObjective") && symbols.has("PairedFusion"));
    const probe = join(REPO_ROOT, "spec", "checks", "source-tokens.ts");
    assert.deepEqual(violations([probe], new Set(["regex"]), new Set(["REGEX_AFTER"])).length > 0, true);
  });

  it("no file under core/ names a built-in plugin or uses a plugin's symbol", () => {
    const found = violations(tsFiles(join(REPO_ROOT, "core")), pluginNames(), pluginSymbols());
    assert.deepEqual(found, []);
  });
});
