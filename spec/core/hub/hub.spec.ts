/**
 * hf:// files through a local server on 127.0.0.1 that answers like the
 * Hugging Face hub (HEAD with X-Repo-Commit / X-Linked-Etag, a redirect to a
 * CDN path, ranges, a connection dropped mid-download), into huggingface_hub's
 * cache layout; offline use, corrupt downloads, a sharded index.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { CheckpointError, createLogger, fromFloat32, hubFile, parseHfUri, readWeights, resolveHubPath, writeSafetensors } from "../../../core/index.ts";
import { tempDir } from "../../helpers.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const quiet = createLogger({ level: "error" });

interface Seen {
  method: string;
  url: string;
  range?: string;
}

describe("core/hub: hf:// files into the Hugging Face cache", function () {
  this.timeout(60000);
  let tmp: ReturnType<typeof tempDir>;
  let server: Server;
  let endpoint: string;
  const seen: Seen[] = [];
  const files = new Map<string, Uint8Array>();
  let dropNext = true;

  before(async () => {
    tmp = tempDir();
    files.set(
      "weights.bin",
      Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251),
    );
    files.set("config.json", new TextEncoder().encode('{"hidden_size": 8}'));
    const shard = (name: string, v: number) => {
      const f = join(tmp.path, name);
      writeSafetensors(f, new Map([[`w${v}`, fromFloat32(new Float32Array([v, v + 1]), [2])]]));
      files.set(name, new Uint8Array(readFileSync(f)));
    };
    shard("model-00001-of-00002.safetensors", 1);
    shard("model-00002-of-00002.safetensors", 2);
    files.set(
      "model.safetensors.index.json",
      new TextEncoder().encode(JSON.stringify({ weight_map: { w1: "model-00001-of-00002.safetensors", w2: "model-00002-of-00002.safetensors" } })),
    );
    server = createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", range: req.headers.range });
      const m = /^\/org\/model\/resolve\/main\/(.+)$/.exec(req.url ?? "");
      if (m) {
        const name = decodeURIComponent(m[1]);
        const body = name === "corrupt.bin" ? new Uint8Array(1000) : files.get(name);
        if (!body) {
          res.writeHead(404).end();
          return;
        }
        const lfs = name.endsWith(".bin");
        const etag = lfs ? sha(name === "corrupt.bin" ? new Uint8Array(999) : body) : createHash("sha1").update(body).digest("hex");
        const headers = { "x-repo-commit": COMMIT, etag: `"${etag}"`, "content-length": String(body.length) };
        if (lfs) {
          // LFS files: the metadata with a redirect to the CDN copy, as the hub does
          res
            .writeHead(302, { ...headers, "x-linked-etag": `"${etag}"`, "x-linked-size": String(body.length), location: `/cdn/${name}`, "content-length": "0" })
            .end();
          return;
        }
        res.writeHead(200, headers);
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      const cdn = /^\/cdn\/(.+)$/.exec(req.url ?? "");
      const body = cdn && (cdn[1] === "corrupt.bin" ? new Uint8Array(1000) : files.get(cdn[1]));
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range) {
        const from = Number(range[1]);
        res.writeHead(206, { "content-range": `bytes ${from}-${body.length - 1}/${body.length}`, "content-length": String(body.length - from) });
        res.end(body.subarray(from));
        return;
      }
      res.writeHead(200, { "content-length": String(body.length) });
      if (dropNext && cdn[1] === "weights.bin") {
        dropNext = false;
        res.write(body.subarray(0, 100_000), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(body);
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
    tmp.cleanup();
  });

  const env = (extra: Record<string, string> = {}) => ({ HF_ENDPOINT: endpoint, HF_HUB_CACHE: join(tmp.path, "cache"), ...extra });

  it("parses hf:// addresses: org/name@revision/path and legacy single-name repositories", () => {
    assert.deepEqual(parseHfUri("hf://facebook/deit-base-patch16-224/pytorch_model.bin"), {
      repo: "facebook/deit-base-patch16-224",
      revision: "main",
      path: "pytorch_model.bin",
    });
    assert.deepEqual(parseHfUri("hf://org/name@v1.0/sub/dir/f.json"), { repo: "org/name", revision: "v1.0", path: "sub/dir/f.json" });
    assert.deepEqual(parseHfUri("hf://bert-base-uncased/pytorch_model.bin"), { repo: "bert-base-uncased", revision: "main", path: "pytorch_model.bin" });
    assert.deepEqual(parseHfUri("hf://bert-base-uncased@abc/a/b.bin"), { repo: "bert-base-uncased", revision: "abc", path: "a/b.bin" });
    assert.throws(() => parseHfUri("hf://just-a-name"), /expected hf:\/\/org\/name\[@revision\]\/path/);
  });

  it("downloads through the redirect, resumes with a Range request after a dropped connection, checks sha256, and lays the cache out as huggingface_hub does", async () => {
    seen.length = 0;
    const path = await hubFile("hf://org/model/weights.bin", { env: env(), log: quiet });
    const body = files.get("weights.bin")!;
    assert.ok(Buffer.from(readFileSync(path)).equals(Buffer.from(body)));
    assert.ok(
      seen.some((s) => s.url === "/cdn/weights.bin" && s.range === "bytes=100000-"),
      `resumed from byte 100000: ${JSON.stringify(seen)}`,
    );
    const repo = join(tmp.path, "cache", "models--org--model");
    assert.equal(path, join(repo, "snapshots", COMMIT, "weights.bin"));
    assert.ok(lstatSync(path).isSymbolicLink());
    assert.equal(readlinkSync(path), join("..", "..", "blobs", sha(body)));
    assert.equal(readFileSync(join(repo, "refs", "main"), "utf8"), COMMIT);
    assert.deepEqual(readdirSync(join(repo, "blobs")), [sha(body)]);
    // cached: only the HEAD goes out
    seen.length = 0;
    assert.equal(await hubFile("hf://org/model/weights.bin", { env: env() }), path);
    assert.deepEqual(
      seen.map((s) => s.method),
      ["HEAD"],
    );
  });

  it("HF_HUB_OFFLINE=1: the cached file with no request at all; a file not cached is a clear error", async () => {
    await hubFile("hf://org/model/config.json", { env: env() });
    seen.length = 0;
    const offline = env({ HF_HUB_OFFLINE: "1" });
    const p = await hubFile("hf://org/model/config.json", { env: offline });
    assert.equal(readFileSync(p, "utf8"), '{"hidden_size": 8}');
    assert.equal(seen.length, 0);
    await assert.rejects(hubFile("hf://org/model/other.bin", { env: offline }), /HF_HUB_OFFLINE is set and the file is not in the cache/);
  });

  it("a corrupt download (sha256 not the hub's) is refused and deleted; a missing file is a 404 error; an unreachable hub names HF_HUB_OFFLINE", async () => {
    await assert.rejects(
      hubFile("hf://org/model/corrupt.bin", { env: env() }),
      (e: Error) =>
        e instanceof CheckpointError && /sha256 [0-9a-f]{64} does not match the hub's [0-9a-f]{64}: the download is corrupt \(deleted\)/.test(e.message),
    );
    assert.ok(!readdirSync(join(tmp.path, "cache", "models--org--model", "blobs")).some((f) => f.includes(sha(new Uint8Array(999)))), "nothing kept");
    await assert.rejects(hubFile("hf://org/model/absent.bin", { env: env() }), /not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404/);
    const down = env({ HF_ENDPOINT: "http://127.0.0.1:9", HF_HUB_CACHE: join(tmp.path, "elsewhere") });
    await assert.rejects(
      hubFile("hf://org/model/config.json", { env: down }),
      /cannot reach http:\/\/127\.0\.0\.1:9 .* and the file is not cached; .*HF_HUB_OFFLINE=1/,
    );
    // with the file cached, an unreachable hub falls back to the cache
    const cachedDown = env({ HF_ENDPOINT: "http://127.0.0.1:9" });
    assert.ok(existsSync(await hubFile("hf://org/model/config.json", { env: cachedDown, log: quiet })));
  });

  it("an index brings its shards (with the progress bar on), and the local index reads as one state dict", async () => {
    const local = await resolveHubPath("hf://org/model/model.safetensors.index.json", { env: env(), progressBar: true });
    const w = readWeights(local);
    assert.equal(w.format, "sharded index");
    assert.deepEqual([...w.tensors.keys()].sort(), ["w1", "w2"]);
  });
});
