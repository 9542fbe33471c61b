/**
 * Runs the mocha spec suite on Deno 2, straight from the TypeScript sources
 * (`deno task test`). Same specs as `npm test` on Node; arguments filter the
 * files by substring (`deno task test checkpoint`).
 */
import Mocha from "mocha";
import SummarySpec from "./summary-reporter.cjs";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const specDir = fileURLToPath(new URL(".", import.meta.url));

function specFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...specFiles(p));
    else if (name.endsWith(".spec.ts")) out.push(p);
  }
  return out;
}

const filters = Deno.args;
const files = specFiles(specDir).filter((f) => filters.length === 0 || filters.some((s) => relative(specDir, f).includes(s)));
const mocha = new Mocha({ timeout: 120000, reporter: SummarySpec });
mocha.suite.emit("pre-require", globalThis, "deno", mocha);
for (const f of files) {
  mocha.suite.emit("require", await import(pathToFileURL(f).href), f, mocha);
}
mocha.run((failures: number) => Deno.exit(failures > 0 ? 1 : 0));
