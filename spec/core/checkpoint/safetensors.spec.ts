import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  bf16ToFloat,
  CheckpointError,
  floatToBf16,
  floatToHalf,
  fromFloat32,
  fromInt,
  halfToFloat,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  type StoredTensor,
  toFloat32,
  toInt32,
  writeFileAtomic,
  writeSafetensors,
} from "../../../core/index.ts";
import { sharedDir, tempDir } from "../../helpers.ts";

function sample(): Map<string, StoredTensor> {
  return new Map<string, StoredTensor>([
    ["a.f32", fromFloat32(new Float32Array([1.5, -2, 3.25, 0]), [2, 2])],
    ["b.f16", fromFloat32(new Float32Array([1, -2, 65504, 1 / 3]), [4], "F16")],
    ["c.bf16", fromFloat32(new Float32Array([1, Math.PI, -0.5]), [3], "BF16")],
    ["d.i64", fromInt(new Int32Array([7, -1, 2147483647]), [3], "I64")],
    ["e.i32", fromInt(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3], "I32")],
    ["f.scalar", fromFloat32(new Float32Array([0.07]), [])],
    ["g.empty", fromFloat32(new Float32Array([]), [0, 4])],
  ]);
}

describe("core/checkpoint safetensors", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it("half and bfloat16 conversions hit the known bit patterns", () => {
    assert.equal(floatToHalf(1), 0x3c00);
    assert.equal(floatToHalf(-2), 0xc000);
    assert.equal(floatToHalf(65504), 0x7bff);
    assert.equal(floatToHalf(1 / 3), 0x3555);
    assert.equal(floatToHalf(2 ** -24), 0x0001);
    assert.equal(floatToHalf(1e-9), 0x0000);
    assert.equal(floatToHalf(70000), 0x7c00);
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
    assert.equal(halfToFloat(0x3555), 0.333251953125);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    assert.equal(floatToBf16(1), 0x3f80);
    assert.equal(floatToBf16(Math.PI), 0x4049);
    assert.equal(bf16ToFloat(0x4049), 3.140625);
    assert.equal(floatToBf16(-0.5), 0xbf00);
  });

  it("round-trips F32, F16, BF16, I64, I32, scalars, empty tensors and metadata", () => {
    const file = join(tmp.path, "x.safetensors");
    writeSafetensors(file, sample(), { format: "pt", note: "ünïcödé" });
    const bytes = readFileSync(file);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLen % 8, 0, "header is padded to 8 bytes");
    const back = readSafetensors(file);
    assert.deepEqual(back.metadata, { format: "pt", note: "ünïcödé" });
    assert.deepEqual([...back.tensors.keys()], [...sample().keys()]);
    assert.deepEqual([...toFloat32(back.tensors.get("a.f32")!)], [1.5, -2, 3.25, 0]);
    assert.deepEqual([...toFloat32(back.tensors.get("b.f16")!)], [1, -2, 65504, 0.333251953125]);
    assert.deepEqual([...toFloat32(back.tensors.get("c.bf16")!)], [1, 3.140625, -0.5]);
    assert.deepEqual([...toInt32(back.tensors.get("d.i64")!)], [7, -1, 2147483647]);
    assert.equal(back.tensors.get("d.i64")!.dtype, "I64");
    assert.deepEqual([...toInt32(back.tensors.get("e.i32")!)], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(back.tensors.get("e.i32")!.shape, [2, 3]);
    assert.deepEqual(back.tensors.get("f.scalar")!.shape, []);
    assert.ok(Math.abs(toFloat32(back.tensors.get("f.scalar")!)[0] - 0.07) < 1e-8);
    assert.deepEqual(back.tensors.get("g.empty")!.shape, [0, 4]);
  });

  it("int64 values outside int32 are an error when read as int32", () => {
    const t = fromInt(new BigInt64Array([2n ** 40n]), [1], "I64");
    assert.throws(() => toInt32(t, "big"), /big: int64 value 1099511627776 does not fit int32/);
  });

  it("a file cut anywhere gives a CheckpointError naming the file and what is missing", () => {
    const bytes = Buffer.concat([...serializeSafetensors(sample())]);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const cases: [number, RegExp][] = [
      [0, /too short/],
      [5, /too short/],
      [8 + Math.floor(headerLen / 2), /truncated: the header needs/],
      [bytes.length - 3, /truncated: tensor "g\.empty"|truncated: tensor "f\.scalar"/],
      [8 + headerLen + 10, /truncated: tensor "/],
    ];
    for (const [len, re] of cases) {
      const file = join(tmp.path, `cut-${len}.safetensors`);
      writeFileSync(file, bytes.subarray(0, len));
      assert.throws(
        () => readSafetensors(file),
        (e: unknown) => e instanceof CheckpointError && e.message.startsWith(file) && re.test(e.message),
        `cut at ${len}`,
      );
    }
  });

  it("corrupt headers are reported: bad JSON, unknown dtype, wrong byte count, overlaps, absurd length", () => {
    const make = (header: object, data = new Uint8Array(16)): Uint8Array => {
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, data]);
    };
    const garbage = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{{{{")]);
    assert.throws(() => parseSafetensors(garbage, "g.st"), /g\.st: corrupt header/);
    assert.throws(() => parseSafetensors(make({ x: { dtype: "Q8", shape: [1], data_offsets: [0, 1] } })), /unsupported dtype "Q8"/);
    assert.throws(() => parseSafetensors(make({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } })), /needs 12 bytes but data_offsets span 8/);
    assert.throws(
      () => parseSafetensors(make({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [2], data_offsets: [4, 12] } })),
      /overlap/,
    );
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(2n ** 60n);
    assert.throws(() => parseSafetensors(huge), /implausible/);
    assert.throws(() => parseSafetensors(make({ __metadata__: { a: 1 } })), /__metadata__ must map strings to strings/);
  });

  it("a PyTorch checkpoint (pickle or zip) is named as such with a conversion recipe; a safetensors header that starts like a pickle still reads", () => {
    const zip = new Uint8Array(64);
    zip.set([0x50, 0x4b, 0x03, 0x04]);
    assert.throws(
      () => parseSafetensors(zip, "model.pth"),
      /model\.pth: a PyTorch checkpoint \(zip archive, torch\.save of PyTorch 1\.6\+\), not safetensors, where safetensors is expected; .*polyalign checkpoint convert .*model\.pth --out OUT\.safetensors/,
    );
    const legacy = sharedDir() && join(sharedDir() as string, "data", "weights", "format-fixtures", "bert-xsmall-dummy", "pytorch_model.bin");
    if (legacy && existsSync(legacy)) {
      assert.throws(() => readSafetensors(legacy), /a PyTorch checkpoint \(pickle stream, torch\.save before PyTorch 1\.6\)/);
    }
    // a 640-byte header: its length field begins 0x80 0x02, as a pickle stream does
    const header = JSON.stringify({ __metadata__: { note: "x" } }).padEnd(640, " ");
    const bytes = new Uint8Array(8 + 640);
    new DataView(bytes.buffer).setBigUint64(0, 640n, true);
    bytes.set(new TextEncoder().encode(header), 8);
    assert.deepEqual([bytes[0], bytes[1]], [0x80, 0x02]);
    const parsed = parseSafetensors(bytes, "odd.safetensors");
    assert.equal(parsed.metadata.note, "x");
    assert.equal(parsed.tensors.size, 0);
  });

  it("a failed write leaves the previous file intact and no temp file behind", () => {
    const file = join(tmp.path, "ckpt.safetensors");
    writeSafetensors(file, sample(), { v: "1" });
    const before = readFileSync(file);
    const bad = new Map(sample());
    bad.set("z.bad", { dtype: "F32", shape: [4], data: new Uint8Array(3) });
    assert.throws(() => writeSafetensors(file, bad), /needs 16 bytes, got 3/);
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array([1, 2, 3]);
      throw new Error("disk on fire");
    }
    assert.throws(() => writeFileAtomic(file, failing()), /disk on fire/);
    assert.deepEqual(readFileSync(file), before);
    assert.deepEqual(readdirSync(tmp.path), ["ckpt.safetensors"]);
    assert.throws(() => readSafetensors(join(tmp.path, "absent.safetensors")), /cannot open checkpoint .*ENOENT/);
  });
});
