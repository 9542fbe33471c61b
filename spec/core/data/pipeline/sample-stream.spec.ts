import assert from "node:assert/strict";
import { join } from "node:path";
import { SampleStream, type SampleStreamOptions, shardOrder, ShardWriter, type StreamPosition } from "../../../../core/index.ts";
import { tempDir } from "../../../helpers.ts";

async function drain(stream: SampleStream, max = Infinity): Promise<string[]> {
  const keys: string[] = [];
  while (keys.length < max) {
    const s = await stream.next();
    if (!s) break;
    keys.push(s.key);
  }
  return keys;
}

describe("core/data/pipeline: shard order, shuffle buffer, resumable position", () => {
  let tmp: ReturnType<typeof tempDir>;
  let shards: string[];
  before(async () => {
    tmp = tempDir();
    // 6 shards × 7 samples, keys s<shard>x<sample>
    const w = new ShardWriter({ pattern: join(tmp.path, "d-%06d.tar"), maxcount: 7 });
    for (let sh = 0; sh < 6; sh++) for (let i = 0; i < 7; i++) await w.write({ key: `s${sh}x${i}`, files: { txt: `${sh}/${i}` } });
    shards = (await w.close()).map((s) => s.file);
  });
  after(() => tmp.cleanup());

  it("orders shards per epoch from the seed, the same on every rank, and splits them by rank and worker", () => {
    const ids = (o: ReturnType<typeof shardOrder>) => Array.from({ length: o.length }, (_, i) => o.shardAt(i));
    const e0 = ids(shardOrder(shards, 0, 0, { seed: 1 }));
    assert.deepEqual([...e0].sort(), [...shards].sort());
    assert.deepEqual(ids(shardOrder(shards, 0, 0, { seed: 1 })), e0, "same seed, same order");
    assert.notDeepEqual(ids(shardOrder(shards, 1, 0, { seed: 1 })), e0, "a new order each epoch");
    assert.deepEqual(ids(shardOrder(shards, 0, 0, { seed: 1, shuffle: false })), shards);
    const parts = [0, 1].flatMap((rank) => [0, 1, 2].map((worker) => ids(shardOrder(shards, 0, 0, { seed: 1, rank, worldSize: 2, worker, numWorkers: 3 }))));
    assert.deepEqual(
      parts.map((p) => p.length),
      [1, 1, 1, 1, 1, 1],
    );
    assert.deepEqual(parts.flat().sort(), [...shards].sort(), "the splits partition the epoch's shards");
    assert.throws(() => shardOrder(shards, 0, 0, { seed: 1, rank: 2, worldSize: 2 }), /rank 2 is not in \[0, worldSize 2\)/);
    const r = shardOrder(shards, 0, 0, { seed: 5, resampled: true });
    assert.equal(r.length, Infinity);
    const draws = Array.from({ length: 30 }, (_, i) => r.shardAt(i));
    assert.deepEqual(
      Array.from({ length: 30 }, (_, i) => shardOrder(shards, 0, 0, { seed: 5, resampled: true }).shardAt(i)),
      draws,
    );
    assert.ok(new Set(draws).size < 30 && new Set(draws).size > 1, "with replacement");
  });

  it("one epoch yields every sample once, in a seeded order that differs by seed and epoch", async () => {
    const opts: SampleStreamOptions = { shards, seed: 3, shuffleBuffer: 10 };
    const a = await drain(new SampleStream(opts, 0));
    assert.equal(a.length, 42);
    assert.equal(new Set(a).size, 42);
    assert.deepEqual(await drain(new SampleStream(opts, 0)), a);
    assert.notDeepEqual(await drain(new SampleStream({ ...opts, seed: 4 }, 0)), a);
    assert.notDeepEqual(await drain(new SampleStream(opts, 1)), a);
    // the buffer mixes samples across shard boundaries
    const firstShard = a.slice(0, 7).map((k) => k.split("x")[0]);
    assert.ok(new Set(firstShard).size > 1);
  });

  it("resuming from any saved position continues the exact same sequence (no repeats, no losses)", async () => {
    const opts: SampleStreamOptions = { shards, seed: 9, shuffleBuffer: 12, shuffleInitial: 4 };
    const full = await drain(new SampleStream(opts, 2));
    for (const k of [0, 1, 5, 13, 29, 41, 42]) {
      const first = new SampleStream(opts, 2);
      const head = await drain(first, k);
      const saved = JSON.parse(JSON.stringify(first.position())) as StreamPosition;
      const tail = await drain(new SampleStream(opts, 2, saved));
      assert.deepEqual([...head, ...tail], full, `resume after ${k}`);
    }
    const pos = new SampleStream(opts, 2).position();
    assert.throws(() => new SampleStream(opts, 3, pos), /position is for epoch 2, not 3/);
  });

  it("samplesPerEpoch gives every rank the same count, repeating passes or resampling as needed", async () => {
    for (const rank of [0, 1]) {
      const opts: SampleStreamOptions = { shards: shards.slice(0, rank === 0 ? 3 : 1), seed: 1, rank: 0, worldSize: 1, samplesPerEpoch: 25, shuffleBuffer: 5 };
      const keys = await drain(new SampleStream(opts, 0));
      assert.equal(keys.length, 25);
    }
    const resampled = { shards, seed: 2, resampled: true, samplesPerEpoch: 50, shuffleBuffer: 8 };
    const a = await drain(new SampleStream(resampled, 0));
    assert.equal(a.length, 50);
    const s = new SampleStream(resampled, 0);
    const head = await drain(s, 20);
    const tail = await drain(new SampleStream(resampled, 0, JSON.parse(JSON.stringify(s.position())) as StreamPosition));
    assert.deepEqual([...head, ...tail], a);
    assert.throws(() => new SampleStream({ shards, seed: 1, resampled: true }, 0), /need samplesPerEpoch/);
  });
});
