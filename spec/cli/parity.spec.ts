/** `polyalign parity`: the ALBEF-field table is read from the shipped configs; a difference without a reason fails it. */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../core/index.ts";
import { runCli } from "../../cli/main.ts";
import { REPO_ROOT, tempDir } from "../helpers.ts";

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = createLogger({ level: "error", sink: { write: (l) => lines.push(l) } });
  const code = await runCli(argv, { out: (l) => lines.push(l), log });
  return { code, out: lines.join("\n") };
}

interface Row {
  albef: string;
  field: string;
  value: unknown;
  config: string;
  path: string;
  note?: string;
}

describe("cli: polyalign parity (ALBEF's configs against the recipes)", function () {
  this.timeout(60000);
  const tableFile = join(REPO_ROOT, "configs", "albef-parity.json");
  const rows = (JSON.parse(readFileSync(tableFile, "utf8")) as { rows: Row[] }).rows;

  it("every ALBEF config has its recipe, every field its value or a stated reason, read from the configs", async () => {
    assert.deepEqual([...new Set(rows.map((r) => r.albef))].sort(), [
      "Grounding.yaml",
      "NLVR.yaml",
      "NLVR_pretrain.yaml",
      "Pretrain.yaml",
      "Retrieval_coco.yaml",
      "Retrieval_flickr.yaml",
      "VQA.yaml",
    ]);
    const r = await cli("parity", "--table", tableFile);
    assert.equal(r.code, 0, r.out);
    const lines = r.out.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ALBEF |") && !l.startsWith("| ---"));
    assert.equal(lines.length, rows.length);
    const differing = lines.filter((l) => !l.endsWith("| = |"));
    assert.equal(differing.length, rows.filter((x) => x.note).length, "the noted rows are the ones that differ");
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const copy = /<!-- parity:begin -->\n([\s\S]*?)\n<!-- parity:end -->/.exec(readme)?.[1];
    assert.equal(
      copy,
      r.out
        .split("\n")
        .filter((l) => l.startsWith("|"))
        .join("\n"),
      "README's table is polyalign parity's output (regenerate it)",
    );
  });

  it("a value that drifted from ALBEF's without a reason fails and names the row", async () => {
    const tmp = tempDir();
    try {
      const drifted = rows.map((r) => ({ ...r, config: join(REPO_ROOT, "configs", r.config) }));
      const lr = drifted.findIndex((r) => r.albef === "Retrieval_coco.yaml" && r.path === "optim.lr");
      drifted[lr] = { ...drifted[lr], value: 3e-5 };
      const file = join(tmp.path, "table.json");
      writeFileSync(file, JSON.stringify({ rows: drifted }));
      const r = await cli("parity", "--table", file);
      assert.equal(r.code, 1);
      assert.match(r.out, /Retrieval_coco\.yaml optimizer\.lr = 0\.00003, but .*retrieval-coco\.yaml optim\.lr = 0\.00001/);
      assert.match(r.out, /\*\*differs, no reason given\*\*/);
    } finally {
      tmp.cleanup();
    }
  });
});
