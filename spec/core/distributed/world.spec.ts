/** The world of a data-parallel run: the launcher detected, one GPU per rank, the ranks' state hash. */
import assert from "node:assert/strict";
import { compareRankStates, detectLaunch, Module, normal, pinGpuByLocalRank, Rng, SINGLE_PROCESS, stateHash, tf, type Variable } from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

class Two extends Module {
  readonly a: Variable;
  readonly b: Variable;
  constructor(seed: number, names = ["a", "b"]) {
    super();
    const rng = new Rng(seed);
    this.a = this.param(names[0], [3, 4], normal(1), rng);
    this.b = this.param(names[1], [5], normal(1), rng);
  }
}

describe("core/distributed: the ranks' state hash", () => {
  before(useTestBackend);

  it("equal states hash alike; one changed value, another name or another seed do not", async () => {
    const [x, y, renamed, other] = [new Two(1), new Two(1), new Two(1, ["a", "c"]), new Two(2)];
    const h = stateHash(x);
    assert.equal(h.entries, 2);
    assert.equal(stateHash(y).hash, h.hash);
    assert.notEqual(stateHash(renamed).hash, h.hash);
    assert.notEqual(stateHash(other).hash, h.hash);
    const v = Array.from(y.b.dataSync());
    v[4] = Math.fround(v[4] + 1e-6);
    y.b.assign(tf.tensor1d(v));
    assert.notEqual(stateHash(y).hash, h.hash, "a change in the last value shows");
    const alone = await compareRankStates(SINGLE_PROCESS, x);
    assert.deepEqual(alone, { hashes: [h.hash], identical: true, entries: 2 });
    for (const m of [x, y, renamed, other]) m.dispose();
  });
});

describe("core/distributed: one GPU per rank", () => {
  it("a rank without CUDA_VISIBLE_DEVICES sees its local rank's GPU; a list for the node's ranks gives each its entry; one device per rank is kept; alone nothing changes", () => {
    const world = { ...SINGLE_PROCESS, size: 4, rank: 3, localRank: 1, localSize: 2, isMain: false };
    const env: NodeJS.ProcessEnv = {};
    assert.match(pinGpuByLocalRank(world, env) ?? "", /local rank 1/);
    assert.equal(env.CUDA_VISIBLE_DEVICES, "1");
    const node: NodeJS.ProcessEnv = { CUDA_VISIBLE_DEVICES: "3,2" };
    assert.match(pinGpuByLocalRank(world, node) ?? "", /of 3,2/);
    assert.equal(node.CUDA_VISIBLE_DEVICES, "2");
    const own: NodeJS.ProcessEnv = { CUDA_VISIBLE_DEVICES: "5" };
    assert.equal(pinGpuByLocalRank(world, own), null);
    assert.equal(own.CUDA_VISIBLE_DEVICES, "5");
    const tooFew: NodeJS.ProcessEnv = { CUDA_VISIBLE_DEVICES: "0,1" };
    assert.equal(pinGpuByLocalRank({ ...world, localSize: 4, localRank: 3 }, tooFew), null);
    assert.equal(tooFew.CUDA_VISIBLE_DEVICES, "0,1");
    const alone: NodeJS.ProcessEnv = {};
    assert.equal(pinGpuByLocalRank(SINGLE_PROCESS, alone), null);
    assert.equal(alone.CUDA_VISIBLE_DEVICES, undefined);
  });
});

describe("core/distributed: which launcher started this process", () => {
  it("reads Open MPI's, PMI's and srun's (PMIx) variables; a batch script's SLURM_NTASKS alone is not a launch", () => {
    assert.deepEqual(detectLaunch({}), { size: 1, rank: 0, launcher: "none" });
    assert.deepEqual(detectLaunch({ OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_RANK: "2" }), { size: 4, rank: 2, launcher: "mpirun (Open MPI)" });
    assert.equal(detectLaunch({ PMI_SIZE: "2", PMI_RANK: "1" }).rank, 1);
    assert.deepEqual(detectLaunch({ PMIX_RANK: "3", SLURM_NTASKS: "8" }), { size: 8, rank: 3, launcher: "srun --mpi=pmix (SLURM)" });
    assert.equal(detectLaunch({ SLURM_NTASKS: "8", SLURM_PROCID: "0" }).size, 1);
    assert.equal(detectLaunch({ OMPI_COMM_WORLD_SIZE: "x", OMPI_COMM_WORLD_RANK: "0" }).size, 1);
  });
});
