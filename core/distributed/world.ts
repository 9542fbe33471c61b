/**
 * The processes of one run: a single process (size 1, every collective a
 * no-op), or one of several MPI ranks. Collectives are issued one at a time
 * (the binding runs them off the event loop under MPI_THREAD_SERIALIZED);
 * a blocking call while another is in flight is a programming error.
 */
import { PolyalignError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { detectLaunch, type LaunchInfo } from "./launch.ts";
import { loadMpiBinding, type MpiBinding } from "./mpi-addon.ts";

/** A collective failed or the job cannot be joined: the run cannot go on. */
export class DistributedError extends PolyalignError {}

export interface World {
  readonly size: number;
  readonly rank: number;
  /** rank among this node's processes (which GPU, which cores) */
  readonly localRank: number;
  readonly localSize: number;
  /** rank 0: the one that writes metrics, plots and checkpoints */
  readonly isMain: boolean;
  /** "1 process" or "rank 1 of 4 (Open MPI v4.1.4, mpirun (Open MPI))" */
  readonly description: string;
  /** every rank's array summed, in place */
  allreduceSum(buf: Float32Array): Promise<void>;
  /** the same, blocking, for a few numbers a step needs at once */
  allreduceSumNow(values: Float64Array): void;
  /** root's bytes into every rank's array, in place */
  bcast(buf: ArrayBufferView, root?: number): Promise<void>;
  /** each rank's `send`, in rank order (recv holds size × send) */
  allgather(send: ArrayBufferView, recv: ArrayBufferView): Promise<void>;
  /** the same, blocking (a few floats a step needs at once) */
  allgatherNow(send: ArrayBufferView, recv: ArrayBufferView): void;
  barrier(): Promise<void>;
  /** leave the job (the last call of a rank that ends normally) */
  finalize(): void;
  /** end every rank of the job at once (a rank that cannot go on) */
  abort(code: number): void;
}

function copyBytes(send: ArrayBufferView, recv: ArrayBufferView): void {
  new Uint8Array(recv.buffer, recv.byteOffset, recv.byteLength).set(new Uint8Array(send.buffer, send.byteOffset, send.byteLength));
}

export const SINGLE_PROCESS: World = Object.freeze({
  size: 1,
  rank: 0,
  localRank: 0,
  localSize: 1,
  isMain: true,
  description: "1 process",
  allreduceSum: async () => {},
  allreduceSumNow: () => {},
  bcast: async () => {},
  allgather: async (send: ArrayBufferView, recv: ArrayBufferView) => copyBytes(send, recv),
  allgatherNow: (send: ArrayBufferView, recv: ArrayBufferView) => copyBytes(send, recv),
  barrier: async () => {},
  finalize: () => {},
  abort: (code: number) => process.exit(code),
});

class MpiWorld implements World {
  readonly isMain: boolean;
  readonly description: string;
  private busy = false;
  private finalized = false;

  constructor(
    private readonly mpi: MpiBinding,
    readonly size: number,
    readonly rank: number,
    readonly localRank: number,
    readonly localSize: number,
    library: string,
    launch: LaunchInfo,
  ) {
    this.isMain = rank === 0;
    this.description = `rank ${rank} of ${size} (local ${localRank} of ${localSize}; ${library}, launched by ${launch.launcher})`;
  }

  private async serial(what: string, op: () => Promise<void>): Promise<void> {
    if (this.busy) throw new DistributedError(`${what}: another collective is still in flight (collectives must be issued one at a time)`);
    this.busy = true;
    try {
      await op();
    } catch (e) {
      throw new DistributedError(`rank ${this.rank}: ${what} failed: ${(e as Error).message} (another rank may have stopped)`);
    } finally {
      this.busy = false;
    }
  }

  allreduceSum(buf: Float32Array): Promise<void> {
    return this.serial("all-reduce", () => this.mpi.allreduceSum(buf));
  }

  allreduceSumNow(values: Float64Array): void {
    if (this.busy) throw new DistributedError("all-reduce: another collective is still in flight (collectives must be issued one at a time)");
    try {
      this.mpi.allreduceSumNow(values);
    } catch (e) {
      throw new DistributedError(`rank ${this.rank}: all-reduce failed: ${(e as Error).message} (another rank may have stopped)`);
    }
  }

  bcast(buf: ArrayBufferView, root = 0): Promise<void> {
    return this.serial("broadcast", () => this.mpi.bcast(buf, root));
  }

  allgather(send: ArrayBufferView, recv: ArrayBufferView): Promise<void> {
    if (recv.byteLength !== send.byteLength * this.size)
      throw new DistributedError(`all-gather: the receive buffer holds ${recv.byteLength} bytes, not ${this.size} × ${send.byteLength}`);
    return this.serial("all-gather", () => this.mpi.allgather(send, recv));
  }

  allgatherNow(send: ArrayBufferView, recv: ArrayBufferView): void {
    if (recv.byteLength !== send.byteLength * this.size)
      throw new DistributedError(`all-gather: the receive buffer holds ${recv.byteLength} bytes, not ${this.size} × ${send.byteLength}`);
    if (this.busy) throw new DistributedError("all-gather: another collective is still in flight (collectives must be issued one at a time)");
    try {
      this.mpi.allgatherNow(send, recv);
    } catch (e) {
      throw new DistributedError(`rank ${this.rank}: all-gather failed: ${(e as Error).message} (another rank may have stopped)`);
    }
  }

  barrier(): Promise<void> {
    return this.serial("barrier", () => this.mpi.barrier());
  }

  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.mpi.finalize();
  }

  abort(code: number): void {
    this.mpi.abort(code);
  }
}

let joined: World | null = null;

/** The world `joinWorld` joined, or null when none was (nothing to finalize or abort). */
export function joinedWorld(): World | null {
  return joined;
}

/**
 * The world this process belongs to: alone unless a launcher started several
 * (mpirun, srun); then MPI is initialised once and the same world returned on
 * every call. Launched as one of several without the binding built → a
 * DistributedError saying how to build it.
 */
export function joinWorld(log?: Logger, env: NodeJS.ProcessEnv = process.env): World {
  if (joined) return joined;
  const launch = detectLaunch(env);
  if (launch.size <= 1) {
    joined = SINGLE_PROCESS;
    return joined;
  }
  const { binding, detail } = loadMpiBinding();
  if (!binding)
    throw new DistributedError(
      `this process is rank ${launch.rank} of ${launch.size} (started by ${launch.launcher}), but polyalign's MPI binding is not built (${detail}); ` +
        "install Open MPI's development files (Debian: apt-get install libopenmpi-dev) and run `npm run build:mpi`",
    );
  const info = binding.init();
  if (info.size !== launch.size || info.rank !== launch.rank)
    throw new DistributedError(
      `MPI says rank ${info.rank} of ${info.size}, the launcher's environment rank ${launch.rank} of ${launch.size}: was the job started by another MPI than the one polyalign is built against?`,
    );
  joined = new MpiWorld(binding, info.size, info.rank, info.localRank, info.localSize, info.library, launch);
  log?.info(`distributed: ${joined.description}`);
  return joined;
}

/** Every rank's JSON value, in rank order (variable lengths: the lengths first, then the padded bytes). */
export async function gatherJson<T>(world: World, value: T): Promise<T[]> {
  if (world.size === 1) return [value];
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const lengths = new Int32Array(world.size);
  await world.allgather(Int32Array.of(bytes.length), lengths);
  const width = Math.max(...lengths);
  const padded = new Uint8Array(width);
  padded.set(bytes);
  const all = new Uint8Array(width * world.size);
  await world.allgather(padded, all);
  const text = new TextDecoder();
  return Array.from(lengths, (n, r) => JSON.parse(text.decode(all.subarray(r * width, r * width + n))) as T);
}

/** `values` summed over the ranks (a fresh array; alone, a copy). */
export function sumOverRanks(world: World, values: readonly number[]): number[] {
  const buf = Float64Array.from(values);
  world.allreduceSumNow(buf);
  return Array.from(buf);
}
