import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bicubicResizeGrid, fromFloat32, interpolatePosEmbed, Rng, toFloat32 } from "../../../core/index.ts";
import { pythonWith, runPython, tempDir } from "../../helpers.ts";

describe("core/checkpoint ViT position-embedding interpolation", () => {
  it("keeps CLS, is the identity at the same size and keeps a constant grid constant", () => {
    const d = 3;
    const r = new Rng(1);
    const v = Float32Array.from({ length: (1 + 16) * d }, () => r.normal());
    const same = toFloat32(interpolatePosEmbed(fromFloat32(v, [1, 17, d]), 17));
    same.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6));
    const flat = new Float32Array(16 * d).fill(0.25);
    assert.ok(bicubicResizeGrid(flat, 4, 6, d).every((x) => Math.abs(x - 0.25) < 1e-6));
    const up = toFloat32(interpolatePosEmbed(fromFloat32(v, [1, 17, d]), 37));
    assert.deepEqual([...up.subarray(0, d)], [...v.subarray(0, d)]);
    assert.throws(() => interpolatePosEmbed(fromFloat32(new Float32Array(6 * d), [1, 6, d]), 17), /cannot interpolate/);
  });

  it("matches torch.nn.functional.interpolate(bicubic, align_corners=False), as ALBEF uses it", function () {
    const py = pythonWith("torch", "numpy");
    if (!py) this.skip();
    const s = 4;
    const g = 6;
    const d = 5;
    const r = new Rng(2);
    const grid = Float32Array.from({ length: s * s * d }, () => r.normal());
    const tmp = tempDir();
    try {
      const f = join(tmp.path, "g.bin");
      writeFileSync(f, Buffer.from(grid.buffer));
      const want = runPython(
        py,
        `import sys, numpy as np, torch
a = np.fromfile(sys.argv[1], dtype=np.float32).reshape(1, ${s}, ${s}, ${d}).transpose(0, 3, 1, 2)
o = torch.nn.functional.interpolate(torch.from_numpy(a.copy()), size=(${g}, ${g}), mode="bicubic", align_corners=False)
sys.stdout.write(" ".join(str(x) for x in o.permute(0, 2, 3, 1).reshape(-1).tolist()))`,
        [f],
      )
        .trim()
        .split(" ")
        .map(Number);
      const got = bicubicResizeGrid(grid, s, g, d);
      got.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-5, `element ${i}: ${x} vs ${want[i]}`));
    } finally {
      tmp.cleanup();
    }
  });
});
