/**
 * The dependency rules of .dependency-cruiser.cjs are live: on a small tree
 * with one wrong import per rule, dependency-cruiser names each rule; on the
 * repository itself it finds nothing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers.ts";

const depcruise = join(REPO_ROOT, "node_modules", ".bin", "depcruise");
const config = join(REPO_ROOT, ".dependency-cruiser.cjs");

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function cruise(cwd: string, dirs: string[]): Violation[] {
  const r = spawnSync(depcruise, ["--config", config, "--output-type", "json", ...dirs], { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const out = JSON.parse(r.stdout) as { summary: { violations: Violation[] } };
  return out.summary.violations;
}

describe("checks: dependency rules (dependency-cruiser)", function () {
  this.timeout(60000);
  before(function () {
    if (!existsSync(depcruise)) this.skip();
  });

  it("each rule fires on a wrong import, type-only imports included", () => {
    const tmp = tempDir();
    try {
      const files: Record<string, string> = {
        "core/index.ts": 'export * from "./ok.ts";\n',
        "core/ok.ts": "export const ok = 1;\n",
        "core/wall.ts": 'import type { Thing } from "../plugins/fusion/thing.ts";\nexport type T = Thing;\n',
        "core/barrel-user.ts": 'import { ok } from "./index.ts";\nexport const b = ok;\n',
        "core/loop-a.ts": 'import { b } from "./loop-b.ts";\nexport const a = () => b;\n',
        "core/loop-b.ts": 'import { a } from "./loop-a.ts";\nexport const b = () => a;\n',
        "plugins/fusion/thing.ts": 'import { ok } from "../../core/index.ts";\nexport interface Thing { n: number }\nexport const t = ok;\n',
        "plugins/fusion/crosses.ts": 'import { loss } from "../objectives/loss.ts";\nexport const c = loss;\n',
        "plugins/objectives/loss.ts": 'import { ok } from "../../core/ok.ts";\nexport const loss = ok;\n',
        "plugins/tasks/one/task.ts": 'import { two } from "../two/task.ts";\nimport { shared } from "../shared/util.ts";\nexport const one = two + shared;\n',
        "plugins/tasks/two/task.ts": "export const two = 2;\n",
        "plugins/tasks/shared/util.ts": "export const shared = 3;\n",
      };
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(dirname(join(tmp.path, f)), { recursive: true });
        writeFileSync(join(tmp.path, f), text);
      }
      const found = cruise(tmp.path, ["core", "plugins"])
        .map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)
        .sort();
      const expect = [
        "core-knows-no-plugin: core/wall.ts → plugins/fusion/thing.ts",
        "no-core-barrel-inside-core: core/barrel-user.ts → core/index.ts",
        "plugin-families-apart: plugins/fusion/crosses.ts → plugins/objectives/loss.ts",
        "plugins-use-the-public-api: plugins/objectives/loss.ts → core/ok.ts",
        "tasks-apart: plugins/tasks/one/task.ts → plugins/tasks/two/task.ts",
      ];
      for (const e of expect) assert.ok(found.includes(e), `expected "${e}" among:\n${found.join("\n")}`);
      assert.ok(
        found.some((f) => f.startsWith("no-cycles: core/loop-")),
        `a cycle is reported:\n${found.join("\n")}`,
      );
      assert.ok(!found.some((f) => f.includes("plugins/tasks/shared/")), "a task may import plugins/tasks/shared");
    } finally {
      tmp.cleanup();
    }
  });

  it("the repository keeps every rule", () => {
    assert.deepEqual(
      cruise(REPO_ROOT, ["core", "plugins", "cli", "bench"]).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
      [],
    );
  });
});
