import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import {
  autoContrast,
  brightness,
  CLIP_MEAN,
  CLIP_STD,
  decodeImage,
  equalize,
  headerSize,
  ImageDecodeError,
  ImageTransformConfig,
  randAugment,
  randomResizedCropBox,
  type RgbImage,
  Rng,
  rotate,
  shearX,
  sharpness,
  transformImage,
  translateX,
  translateY,
} from "../../../../core/index.ts";
import { pythonWith, runPython, sharedPathOrSkip, tempDir } from "../../../helpers.ts";

function randomImage(w: number, h: number, seed: number): RgbImage {
  const r = new Rng(seed);
  const data = new Uint8Array(w * h * 3);
  // smooth-ish content: low values in one region so that autocontrast/equalize have work to do
  for (let i = 0; i < data.length; i++) data[i] = 40 + (((r.nextUint32() % 120) + ((i / 3) % w)) % 160);
  return { data, width: w, height: h };
}

async function jpeg(img: RgbImage): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
}

describe("core/data/image: decoding and ALBEF's transforms", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it("decodes RGB and grayscale JPEGs, CMYK JPEGs and PNGs with alpha to 3-channel RGB", async function () {
    const rgb = await decodeImage(await jpeg(randomImage(40, 30, 1)), "rgb");
    assert.deepEqual([rgb.width, rgb.height, rgb.data.length], [40, 30, 3600]);
    const rgba = await sharp({ create: { width: 5, height: 4, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const png = await decodeImage(new Uint8Array(rgba), "png");
    assert.deepEqual([png.data.length, png.data[0], png.data[1], png.data[2]], [60, 10, 20, 30]);
    const py = pythonWith("PIL");
    if (py) {
      const cmyk = join(tmp.path, "cmyk.jpg");
      runPython(py, "from PIL import Image; import sys; Image.new('RGB', (8, 6), (200, 40, 40)).convert('CMYK').save(sys.argv[1], quality=95)", [cmyk]);
      const c = await decodeImage(readFileSync(cmyk), "cmyk");
      assert.equal(c.data.length, 8 * 6 * 3);
      assert.ok(c.data[0] > 150 && c.data[1] < 100 && c.data[2] < 100, `CMYK red decodes reddish: ${[...c.data.slice(0, 3)]}`);
    }
    const gray = sharedPathOrSkip(this, "data", "coco", "val2017", "000000431848.jpg");
    const g = await decodeImage(readFileSync(gray), "gray");
    assert.deepEqual([g.width, g.height, g.data.length], [378, 640, 378 * 640 * 3]);
    assert.equal(g.data[0], g.data[1]);
    assert.equal(g.data[1], g.data[2]);
  });

  it("corrupt, truncated and oversized images are clear errors naming the sample", async () => {
    const good = await jpeg(randomImage(64, 64, 2));
    await assert.rejects(
      decodeImage(good.subarray(0, good.length / 2), "shard-0/k1.jpg"),
      (e: unknown) => e instanceof ImageDecodeError && /^shard-0\/k1\.jpg: cannot decode the image/.test((e as Error).message),
    );
    await assert.rejects(decodeImage(new TextEncoder().encode("not an image at all"), "k2.jpg"), /k2\.jpg: cannot read the image/);
    await assert.rejects(decodeImage(good, "k3.jpg", { maxPixels: 1000 }), /k3\.jpg: .*pixel limit/);
  });

  it("sizes read from the JPEG frame header or PNG IHDR are libvips' (baseline, progressive, grayscale, the shared COCO images); anything else is left to libvips", async function () {
    const img = randomImage(37, 23, 4);
    const raw = sharp(img.data, { raw: { width: 37, height: 23, channels: 3 } });
    const encoded = [
      await raw.clone().jpeg().toBuffer(),
      await raw.clone().jpeg({ progressive: true }).toBuffer(),
      await raw.clone().grayscale().jpeg().toBuffer(),
      await raw.clone().png().toBuffer(),
      await raw.clone().withMetadata({ orientation: 6 }).jpeg().toBuffer(),
    ];
    for (const b of encoded) assert.deepEqual(headerSize(new Uint8Array(b)), { width: 37, height: 23 });
    const webp = await raw.clone().webp().toBuffer();
    assert.equal(headerSize(new Uint8Array(webp)), null);
    assert.equal(headerSize(new Uint8Array(encoded[0]).subarray(0, 12)), null, "a header cut short");
    assert.equal(headerSize(new TextEncoder().encode("not an image at all")), null);
    const dir = sharedPathOrSkip(this, "data", "coco", "val2017");
    const files = readdirSync(dir).filter((f) => f.endsWith(".jpg"));
    assert.ok(files.length > 0);
    for (const f of files) {
      const b = readFileSync(join(dir, f));
      const m = await sharp(b).metadata();
      assert.deepEqual(headerSize(new Uint8Array(b)), { width: m.width, height: m.height }, f);
    }
  });

  it("RandomResizedCrop boxes follow torchvision: inside the image, area in scale, ratio in range, centre fallback", () => {
    const r = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const b = randomResizedCropBox(640, 480, r, [0.2, 1], [3 / 4, 4 / 3]);
      assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= 640 && b.top + b.height <= 480);
      const frac = (b.width * b.height) / (640 * 480);
      assert.ok(frac > 0.18 && frac <= 1.01, `area ${frac}`);
      const ratio = b.width / b.height;
      assert.ok(ratio > 0.7 && ratio < 1.4, `ratio ${ratio}`);
    }
    // a 1000×10 strip cannot hold a 3/4..4/3 box of ≥ 90 % area: centre crop, ratio clamped
    assert.deepEqual(randomResizedCropBox(1000, 10, new Rng(1), [0.9, 1]), { left: 493, top: 0, width: 13, height: 10 });
  });

  it("table ops match PIL (autocontrast, equalize) and numpy (brightness)", async function () {
    const py = pythonWith("PIL", "numpy");
    if (!py) this.skip();
    const img = randomImage(23, 17, 4);
    const raw = join(tmp.path, "img.raw");
    writeFileSync(raw, img.data);
    const ref = runPython(
      py,
      `
import sys, numpy as np
from PIL import Image, ImageOps
a = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(17, 23, 3)
im = Image.fromarray(a)
ac = np.asarray(ImageOps.autocontrast(im)); eq = np.asarray(ImageOps.equalize(im))
br = (np.arange(256, dtype=np.float32) * 1.36).clip(0, 255).astype(np.uint8)[a]
sys.stdout.write(ac.tobytes().hex() + "\\n" + eq.tobytes().hex() + "\\n" + br.tobytes().hex())
`,
      [raw],
    ).split("\n");
    const hex = (x: RgbImage) => Buffer.from(x.data).toString("hex");
    assert.equal(hex(autoContrast(img)), ref[0], "autocontrast");
    assert.equal(hex(equalize(img)), ref[1], "equalize");
    assert.equal(hex(brightness(img, 1.36)), ref[2], "brightness 1.36");
  });

  it("geometric ops: integer translation is exact with fill 128; shear keeps row 0; rotation by 0 and 360 is identity", () => {
    const img = randomImage(12, 9, 5);
    const t = translateX(img, 7);
    for (let y = 0; y < 9; y++) {
      for (let x = 0; x < 12; x++) {
        const want = x + 7 < 12 ? img.data[(y * 12 + x + 7) * 3] : 128;
        assert.equal(t.data[(y * 12 + x) * 3], want);
      }
    }
    const ty = translateY(img, -7);
    assert.equal(ty.data[0], 128);
    assert.equal(ty.data[8 * 12 * 3], img.data[1 * 12 * 3]);
    const sh = shearX(img, 0.21);
    assert.deepEqual(sh.data.subarray(0, 36), img.data.subarray(0, 36), "row 0 is not moved");
    assert.deepEqual(rotate(img, 0).data, img.data);
    assert.deepEqual(rotate(img, 360).data, img.data);
    const r21 = rotate(img, 21);
    assert.equal(r21.data[0], 128, "the corner rotates out and is filled");
    const s = sharpness(img, 1.36);
    assert.deepEqual(s.data.subarray(0, 36), img.data.subarray(0, 36), "border row untouched");
    assert.ok(s.data.every((v) => v >= 0 && v <= 255));
  });

  it("randAugment draws 2 of the 10 ops with replacement, each applied with p = 0.5, reproducibly", () => {
    const img = randomImage(16, 16, 6);
    const counts = new Map<number, number>();
    const names = new Set<string>();
    for (let s = 0; s < 400; s++) {
      const r = randAugment(img, new Rng(s));
      counts.set(r.applied.length, (counts.get(r.applied.length) ?? 0) + 1);
      r.applied.forEach((n) => names.add(n));
    }
    assert.equal(names.size, 10);
    const [c0, c1, c2] = [counts.get(0) ?? 0, counts.get(1) ?? 0, counts.get(2) ?? 0];
    assert.ok(c0 > 60 && c0 < 140 && c1 > 150 && c1 < 250 && c2 > 60 && c2 < 140, `0/1/2 ops applied: ${c0}/${c1}/${c2} (expect 1:2:1)`);
    assert.deepEqual(randAugment(img, new Rng(77)).image.data, randAugment(img, new Rng(77)).image.data);
  });

  it("train and test transforms give normalised CHW float32 of the configured size, deterministically per seed", async () => {
    const bytes = await jpeg(randomImage(120, 80, 7));
    const cfg = ImageTransformConfig.parse({ size: 32 });
    const a = await transformImage(bytes, cfg, new Rng(1), "k");
    const b = await transformImage(bytes, cfg, new Rng(1), "k");
    assert.equal(a.pixels.length, 3 * 32 * 32);
    assert.deepEqual(a.pixels, b.pixels);
    assert.deepEqual(a.info.source, { width: 120, height: 80 });
    assert.ok(a.info.crop);
    const white = await transformImage(
      new Uint8Array(
        await sharp({ create: { width: 50, height: 40, channels: 3, background: { r: 255, g: 255, b: 255 } } })
          .png()
          .toBuffer(),
      ),
      ImageTransformConfig.parse({ size: 8, mode: "test" }),
      new Rng(1),
      "white",
    );
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(white.pixels[c * 64 + 5] - (1 - CLIP_MEAN[c]) / CLIP_STD[c]) < 1e-5);
    assert.equal(white.info.crop, undefined);
  });

  it("test-time resize is bicubic like PIL's (within 2 grey levels on average)", async function () {
    const py = pythonWith("PIL", "numpy");
    if (!py) this.skip();
    const img = randomImage(97, 61, 8);
    const png = new Uint8Array(
      await sharp(img.data, { raw: { width: 97, height: 61, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const f = join(tmp.path, "x.png");
    writeFileSync(f, png);
    const pil = Buffer.from(
      runPython(
        py,
        "import sys, numpy as np; from PIL import Image; sys.stdout.write(np.asarray(Image.open(sys.argv[1]).convert('RGB').resize((32, 32), Image.BICUBIC)).tobytes().hex())",
        [f],
      ),
      "hex",
    );
    const ours = await transformImage(png, ImageTransformConfig.parse({ size: 32, mode: "test" }), new Rng(0), "x");
    let diff = 0;
    for (let i = 0; i < 32 * 32; i++) {
      for (let c = 0; c < 3; c++) {
        const v = (ours.pixels[c * 1024 + i] * CLIP_STD[c] + CLIP_MEAN[c]) * 255;
        diff += Math.abs(v - pil[i * 3 + c]);
      }
    }
    assert.ok(diff / (32 * 32 * 3) < 2, `mean |ours − PIL| = ${diff / 3072}`);
  });
});
