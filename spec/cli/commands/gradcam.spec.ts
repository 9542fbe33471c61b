/** `polyalign gradcam` on a tiny pre-trained run: the picture's layout, its panels and labels; the maps are the API's; errors by name. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { expandShardSpec, readShards } from "../../../core/index.ts";
import { jet } from "../../../core/index.ts";
import { cli, pretrainTinyBase, useTempRuns } from "../../tiny-run.ts";

async function rgb(file: string) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    data,
    width: info.width,
    height: info.height,
    at: (x: number, y: number) => [...data.subarray(3 * (y * info.width + x), 3 * (y * info.width + x) + 3)],
  };
}

describe("cli: polyalign gradcam", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  let run: string;
  let image: string;
  let caption: string;

  before(async () => {
    run = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "gradcam");
    for await (const s of readShards(expandShardSpec(join(tmp.path, "synth", "test-000000.tar")))) {
      image = join(tmp.path, "scene.jpg");
      writeFileSync(image, s.files.jpg);
      caption = (JSON.parse(new TextDecoder().decode(s.files.json)) as { captions: string[] }).captions[0];
      break;
    }
  });

  it("draws the image, the whole-text map, a colour bar and one labelled panel per word piece", async () => {
    const out = join(tmp.path, "cam.png");
    const r = await cli("gradcam", "--run", run, "--image", image, "--text", caption, "--out", out, "--panel", "64", "--columns", "3");
    assert.equal(r.code, 0, r.out);
    const words = r.out.split("\n").slice(1);
    assert.ok(words.length >= 3, r.out);
    const pic = await rgb(out);
    // layout: PAD 8, LABEL 22, title 30; panels of 64 in rows of 3 (the top row: image, whole map, bar of 64)
    const cell = 64 + 22 + 8;
    assert.ok(pic.width >= 3 * 72 + 8 && pic.width <= 600, `width ${pic.width}`);
    assert.equal(pic.height, 30 + cell + Math.ceil(words.length / 3) * cell + 8);
    // the first panel is the image itself; the second is it under the map (a different picture)
    const want = await sharp(image).removeAlpha().resize(64, 64, { fit: "fill", kernel: "cubic" }).raw().toBuffer();
    const top = 30 + 22;
    let same = 0;
    let differs = 0;
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++) {
        const [a, b, c] = pic.at(8 + x, top + y);
        const p = 3 * (y * 64 + x);
        if (a === want[p] && b === want[p + 1] && c === want[p + 2]) same++;
        if (pic.at(8 + 72 + x, top + y).some((v, i) => Math.abs(v - want[p + i]) > 8)) differs++;
      }
    assert.equal(same, 64 * 64, "panel 1 is the image");
    assert.ok(differs > 100, `panel 2 is coloured by the map (${differs} pixels)`);
    // the colour bar (a chart: its axis labels may shift it a few pixels down) runs from jet(1), dark red, at the top to jet(0), dark blue, at the bottom
    const darkRed = ([r, g, b]: number[]) => r > 100 && g < 40 && b < 40;
    const darkBlue = ([r, g, b]: number[]) => b > 100 && r < 40 && g < 40;
    let bar: { x: number; y: number } | null = null;
    for (let y = top; y < top + 12 && !bar; y++)
      for (let x = 8 + 2 * 72; x < pic.width && !bar; x++) if (darkRed(pic.at(x, y)) && darkRed(pic.at(x + 3, y))) bar = { x: x + 3, y };
    assert.ok(bar, "a colour bar right of the whole-text panel, dark red at its top");
    let bottom = bar.y;
    while (bottom + 1 < pic.height && !pic.at(bar.x, bottom + 1).every((v) => v > 200)) bottom++;
    assert.ok(darkBlue(pic.at(bar.x, bottom - 1)), `bar bottom ${pic.at(bar.x, bottom - 1)}`);
    assert.ok(Math.abs(bottom - bar.y - 64) <= 3, `the bar is as tall as a panel (${bottom - bar.y})`);
    // labels: dark text above the first word panel, none above an empty slot of the last row
    const darkIn = (x0: number, y0: number, w: number, h: number) => {
      let n = 0;
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (pic.at(x, y).every((v) => v < 100)) n++;
      return n;
    };
    assert.ok(darkIn(8, 30 + cell, 64, 20) > 10, "the first word's label");
    assert.ok(darkIn(8, 4, 300, 22) > 50, "the title");
  });

  it("names a bad mode, a layer the fusion lacks and a missing --out", async () => {
    const base = ["gradcam", "--run", run, "--image", image, "--text", caption];
    const mode = await cli(...base, "--out", join(tmp.path, "x.png"), "--mode", "attention");
    assert.equal(mode.code, 2);
    assert.match(mode.out, /--mode must be itm or itc \(got "attention"\)/);
    const layer = await cli(...base, "--out", join(tmp.path, "x.png"), "--layer", "4");
    assert.equal(layer.code, 1);
    assert.match(layer.out, /layer 4 does not exist: the fusion has 1 layer/);
    const out = await cli(...base);
    assert.equal(out.code, 2);
    assert.match(out.out, /--out is required/);
  });

  it("jet runs from dark blue through green to dark red", () => {
    assert.deepEqual(jet(0), [0, 0, 128]);
    assert.deepEqual(jet(0.5), [128, 255, 128]);
    assert.deepEqual(jet(1), [128, 0, 0]);
  });
});
