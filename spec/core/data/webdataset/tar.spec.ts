import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { expandShardSpec, formatShardName, newReadStats, readShard, readShards, ShardWriteError, ShardWriter, type WdsSample } from "../../../../core/index.ts";
import { pythonWith, runPython, tempDir } from "../../../helpers.ts";

async function collect(it: AsyncIterable<WdsSample>): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  for await (const s of it) out.push([s.key, Object.keys(s.files).sort()]);
  return out;
}

function md5(b: Uint8Array): string {
  return createHash("md5").update(b).digest("hex");
}

const PY_GROUP = `
import json, re, sys, tarfile, hashlib
rx = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")
out = []
with tarfile.open(sys.argv[1], "r|*") as t:
    for m in t:
        if not m.isreg(): continue
        if re.search(r"__[^/]*__($|/)", m.name): continue
        mm = rx.match(m.name)
        if not mm: continue
        key, ext = mm.group(1), mm.group(2).lower()
        data = t.extractfile(m).read()
        if not out or out[-1][0] != key: out.append([key, {}])
        out[-1][1][ext] = hashlib.md5(data).hexdigest()
print(json.dumps(out))
`;

describe("core/data/webdataset: tar shards", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  async function writeShards(n: number, opts: { maxcount?: number; maxsize?: number } = {}): Promise<string[]> {
    const w = new ShardWriter({ pattern: join(tmp.path, "s-%06d.tar"), ...opts });
    for (let i = 0; i < n; i++) {
      await w.write({
        key: `k${String(i).padStart(4, "0")}`,
        files: { txt: `caption ${i}`, json: JSON.stringify({ i }), jpg: new Uint8Array(100 + i).fill(i) },
      });
    }
    return (await w.close()).map((s) => s.file);
  }

  it("writes numbered shards with maxcount rollover, sizes.json, and reads them back grouped", async () => {
    const files = await writeShards(7, { maxcount: 3 });
    assert.deepEqual(
      files.map((f) => f.slice(tmp.path.length + 1)),
      ["s-000000.tar", "s-000001.tar", "s-000002.tar"],
    );
    assert.deepEqual(JSON.parse(readFileSync(join(tmp.path, "sizes.json"), "utf8")), { "s-000000.tar": 3, "s-000001.tar": 3, "s-000002.tar": 1 });
    const got = await collect(readShards(files));
    assert.equal(got.length, 7);
    assert.deepEqual(got[0], ["k0000", ["jpg", "json", "txt"]]);
    const stats = newReadStats();
    const samples: WdsSample[] = [];
    for await (const s of readShard(files[1], { stats })) samples.push(s);
    assert.deepEqual(
      samples.map((s) => [s.key, s.index, s.url]),
      [
        ["k0003", 0, files[1]],
        ["k0004", 1, files[1]],
        ["k0005", 2, files[1]],
      ],
    );
    assert.equal(new TextDecoder().decode(samples[0].files.txt), "caption 3");
    assert.deepEqual([...samples[2].files.jpg.slice(0, 3)], [5, 5, 5]);
    assert.equal(stats.samples, 3);
    assert.deepEqual(
      readdirSync(tmp.path).filter((f) => f.includes(".tmp-")),
      [],
      "no temp files left",
    );
  });

  it("maxsize rolls over on payload bytes; the same samples give identical bytes", async () => {
    // each sample carries ~120 payload bytes: a shard closes before the write that follows ≥ 250 bytes
    const a = await writeShards(5, { maxsize: 250 });
    assert.deepEqual(JSON.parse(readFileSync(join(tmp.path, "sizes.json"), "utf8")), { "s-000000.tar": 3, "s-000001.tar": 2 });
    const bytesA = a.map((f) => md5(readFileSync(f)));
    const b = await writeShards(5, { maxsize: 250 });
    assert.deepEqual(
      b.map((f) => md5(readFileSync(f))),
      bytesA,
      "deterministic output",
    );
    assert.equal(statSync(a[0]).size % 512, 0);
  });

  it("refuses keys that would not read back and patterns without a number", async () => {
    const w = new ShardWriter({ pattern: join(tmp.path, "x-%03d.tar") });
    await assert.rejects(
      w.write({ key: "img.001", files: { jpg: "x" } }),
      (e: unknown) => e instanceof ShardWriteError && /dot in the key's basename/.test((e as Error).message),
    );
    await assert.rejects(w.write({ key: "../up", files: { jpg: "x" } }), /"\.\." segment/);
    await assert.rejects(w.write({ key: "ok", files: {} }), /has no files/);
    await assert.rejects(w.write({ key: "ok", files: { JPG: "x" } }), /upper-case extension/);
    await w.close();
    assert.throws(() => new ShardWriter({ pattern: "x.tar" }), /no %d/);
    assert.equal(formatShardName("a-%06d.tar", 42), "a-000042.tar");
    assert.equal(formatShardName("a-%d.tar", 42), "a-42.tar");
  });

  it("a shard cut inside a member or at a member boundary: an error under fail, a damaged shard under skip", async () => {
    const [file] = await writeShards(3);
    const bytes = readFileSync(file);
    const cut = join(tmp.path, "cut.tar");
    writeFileSync(cut, bytes.subarray(0, 512 + 50)); // header + part of the first member
    await assert.rejects(collect(readShard(cut)), /cut\.tar: corrupt or truncated tar/);
    const stats = newReadStats();
    assert.deepEqual(await collect(readShard(cut, { onError: "skip", stats })), []);
    assert.equal(stats.problems.length, 1);
    assert.equal(stats.problems[0].shard, cut);
    assert.equal(stats.problems[0].scope, "shard", "a damaged shard, not one bad sample");
    // boundary: the first sample's three members (each 512-byte header + padded data); Python's
    // streaming tarfile reads this as a clean end — the lost tail would go unnoticed
    const boundary = 512 + 512 + 512 + 512 + 512 + 512; // jpg(100 B) json txt: 1 block each
    writeFileSync(cut, bytes.subarray(0, boundary));
    await assert.rejects(collect(readShard(cut)), /cut\.tar: the tar ends without its end-of-archive blocks \(cut short after 3072 bytes\?\)/);
    const atBoundary = newReadStats();
    // the last sample before the cut may have lost members of its own: it is not kept
    assert.deepEqual(await collect(readShard(cut, { onError: "skip", stats: atBoundary })), []);
    assert.deepEqual(
      atBoundary.problems.map((p) => [p.scope, p.key]),
      [["shard", null]],
    );
    writeFileSync(cut, gzipSync(bytes.subarray(0, boundary)));
    await assert.rejects(collect(readShard(cut)), /end-of-archive blocks/, "gzip'd: checked on the tar inside");
    writeFileSync(cut, new Uint8Array(0));
    await assert.rejects(collect(readShard(cut)), /cut\.tar: empty file, not a tar/);
    writeFileSync(cut, new Uint8Array(1024));
    assert.deepEqual(await collect(readShard(cut)), [], "two zero blocks: an empty tar");
    assert.equal((await collect(readShard(file))).length, 3, "the whole shard still reads");
  });

  it("a reader that stops early (break) ends cleanly, also while the tar parser applies back-pressure (plain, gzip, pipe:)", async () => {
    const big = join(tmp.path, "big-%06d.tar");
    const w = new ShardWriter({ pattern: big });
    for (let i = 0; i < 4; i++) await w.write({ key: `b${i}`, files: { bin: new Uint8Array(3 << 20).fill(i), txt: new TextEncoder().encode(`sample ${i}`) } });
    const [{ file }] = await w.close();
    const gz = join(tmp.path, "big.tar.gz");
    writeFileSync(gz, gzipSync(readFileSync(file)));
    for (const url of [file, gz, `pipe:cat ${file}`]) {
      const firstOnly = (async () => {
        for await (const sample of readShard(url)) return sample.key;
        return null;
      })();
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("hung"), 10000)));
      assert.equal(await Promise.race([firstOnly, hung]), "b0", url);
      clearTimeout(timer);
    }
  });

  it("reads gzip shards, pipe: sources and http:// sources", async () => {
    const [file] = await writeShards(2);
    const gz = join(tmp.path, "z.tar.gz");
    writeFileSync(gz, gzipSync(readFileSync(file)));
    assert.deepEqual(
      (await collect(readShard(gz))).map(([k]) => k),
      ["k0000", "k0001"],
    );
    assert.deepEqual(
      (await collect(readShard(`pipe:cat ${file}`))).map(([k]) => k),
      ["k0000", "k0001"],
    );
    await assert.rejects(collect(readShard(`pipe:cat ${file}.missing`)), /command exited with status 1/);
    const server = createServer((req, res) => {
      if (req.url === "/s.tar") res.end(readFileSync(file));
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      assert.deepEqual(
        (await collect(readShard(`http://127.0.0.1:${port}/s.tar`))).map(([k]) => k),
        ["k0000", "k0001"],
      );
      await assert.rejects(collect(readShard(`http://127.0.0.1:${port}/nope.tar`)), /HTTP 404/);
    } finally {
      server.close();
    }
  });

  it("a sample missing from the middle, a repeated extension: skip drops that sample and goes on", async () => {
    const py = pythonWith("tarfile");
    if (!py) return;
    const f = join(tmp.path, "dup.tar");
    runPython(
      py,
      `
import tarfile, io, sys
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("a.jpg", b"1"), ("a.txt", b"2"), ("b.txt", b"3"), ("b.txt", b"4"), ("c.txt", b"5")]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
`,
      [f],
    );
    await assert.rejects(collect(readShard(f)), /sample b has two members with extension \.txt/);
    const stats = newReadStats();
    assert.deepEqual(await collect(readShard(f, { onError: "skip", stats })), [
      ["a", ["jpg", "txt"]],
      ["c", ["txt"]],
    ]);
    assert.deepEqual(
      stats.problems.map((p) => p.key),
      ["b"],
    );
  });

  it("GNU long names, PAX records, ustar prefixes, non-ASCII, directories, symlinks and metadata read like Python's tarfile", async function () {
    const py = pythonWith("tarfile");
    if (!py) this.skip();
    for (const format of ["GNU_FORMAT", "PAX_FORMAT", "USTAR_FORMAT"]) {
      const f = join(tmp.path, `edge-${format}.tar`);
      runPython(
        py,
        `
import tarfile, io, sys
fmt = getattr(tarfile, sys.argv[2])
names = ["s1.jpg", "s1.txt", "p" * 60 + "/" + "q" * 60 + ".txt", "__meta__", "__index__/x.json", "d.v2/sub/k.cls", "d.v2/sub/k.json"]
if fmt != tarfile.USTAR_FORMAT:
    names += ["l" * 130 + ".txt", "ünï/kéy.txt"]
with tarfile.open(sys.argv[1], "w", format=fmt) as t:
    d = tarfile.TarInfo("somedir"); d.type = tarfile.DIRTYPE; t.addfile(d)
    s = tarfile.TarInfo("link.txt"); s.type = tarfile.SYMTYPE; s.linkname = "s1.txt"; t.addfile(s)
    for n, name in enumerate(names):
        data = (name * 3).encode()
        i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 0; t.addfile(i, io.BytesIO(data))
`,
        [f, format],
      );
      const want = JSON.parse(runPython(py, PY_GROUP, [f])) as [string, Record<string, string>][];
      const got: [string, Record<string, string>][] = [];
      for await (const s of readShard(f)) got.push([s.key, Object.fromEntries(Object.entries(s.files).map(([e, b]) => [e, md5(b)]))]);
      assert.deepEqual(got, want, format);
      assert.ok(got.length >= 3);
    }
  });

  it("shards we write read back in Python's tarfile with the same grouping", async function () {
    const py = pythonWith("tarfile");
    if (!py) this.skip();
    const files = await writeShards(4, { maxcount: 2 });
    for (const f of files) {
      const want = JSON.parse(runPython(py, PY_GROUP, [f])) as [string, Record<string, string>][];
      const got: [string, Record<string, string>][] = [];
      for await (const s of readShard(f)) got.push([s.key, Object.fromEntries(Object.entries(s.files).map(([e, b]) => [e, md5(b)]))]);
      assert.deepEqual(got, want);
    }
  });

  it("shards from ../shared/peer/make_shards.py read in ours", async function () {
    this.timeout(120000);
    const py = pythonWith("PIL", "numpy");
    const script = join(process.cwd(), "../shared/peer/make_shards.py");
    if (!py || !statSync(script, { throwIfNoEntry: false })) this.skip();
    runPython(
      py,
      `import runpy, sys; sys.argv = [sys.argv[1], "--out", sys.argv[2], "--shards", "2", "--samples", "3"]; runpy.run_path(sys.argv[0], run_name="__main__")`,
      [script, tmp.path],
    );
    const shards = expandShardSpec(tmp.path);
    assert.equal(shards.length, 2);
    const got = await collect(readShards(shards));
    assert.equal(got.length, 6);
    for (const [, exts] of got) assert.deepEqual(exts, ["jpg", "json", "txt"]);
    const sizes = JSON.parse(readFileSync(join(tmp.path, "sizes.json"), "utf8")) as Record<string, number>;
    assert.deepEqual(Object.values(sizes), [3, 3]);
  });

  it("shard specs: braces, :: lists, directories, globs, missing", async () => {
    await writeShards(5, { maxcount: 1 });
    const dir = tmp.path;
    assert.equal(expandShardSpec(join(dir, "s-{000000..000002}.tar")).length, 3);
    assert.deepEqual(
      expandShardSpec(`${join(dir, "s-000000.tar")}::${join(dir, "s-00000{3,4}.tar")}`).map((f) => f.slice(-8)),
      ["0000.tar", "0003.tar", "0004.tar"],
    );
    assert.equal(expandShardSpec(dir).length, 5);
    assert.equal(expandShardSpec(join(dir, "s-*.tar")).length, 5);
    assert.deepEqual(expandShardSpec("s-000001.tar", dir), [join(dir, "s-000001.tar")]);
    assert.deepEqual(expandShardSpec("https://host/x-{0..1}.tar"), ["https://host/x-0.tar", "https://host/x-1.tar"]);
    assert.throws(() => expandShardSpec(join(dir, "nothing-*.tar")), /names no shards/);
    await assert.rejects(collect(readShard(join(dir, "absent.tar"))), /shard not found: .*absent\.tar/);
  });
});
