/**
 * Loading the MPI binding (core/distributed/native/build/Release/polyalign_mpi.node,
 * built by `npm run build:mpi` where Open MPI's development files are installed).
 * Absent or unloadable → null with the reason: a single-process run never needs it.
 * POLYALIGN_MPI=0: not loaded (as if not built); POLYALIGN_MPI_PATH: load this file.
 */
import { requireFirstAddon } from "../native/require-addon.ts";
import { fileURLToPath } from "node:url";

/** What the addon exports (see native/src/polyalign_mpi.c). */
export interface MpiBinding {
  init(): { rank: number; size: number; localRank: number; localSize: number; threadLevel: number; library: string };
  /** in place: every rank's arrays summed */
  allreduceSum(buf: Float32Array): Promise<void>;
  /** in place and blocking (a few numbers a step needs at once) */
  allreduceSumNow(buf: Float64Array): void;
  /** root's bytes into every rank's array */
  bcast(buf: ArrayBufferView, root: number): Promise<void>;
  /** every rank's `send` bytes, in rank order, into `recv` (size × send bytes) */
  allgather(send: ArrayBufferView, recv: ArrayBufferView): Promise<void>;
  /** the same, blocking */
  allgatherNow(send: ArrayBufferView, recv: ArrayBufferView): void;
  barrier(): Promise<void>;
  finalize(): void;
  abort(code: number): void;
}

const ADDON_FILE = "build/Release/polyalign_mpi.node";

function candidates(): string[] {
  const list: string[] = [];
  if (process.env.POLYALIGN_MPI_PATH) list.push(process.env.POLYALIGN_MPI_PATH);
  list.push(fileURLToPath(new URL(`./native/${ADDON_FILE}`, import.meta.url)));
  list.push(fileURLToPath(new URL(`../../../core/distributed/native/${ADDON_FILE}`, import.meta.url)));
  return list;
}

let cached: { binding: MpiBinding | null; detail: string } | null = null;

export function loadMpiBinding(): { binding: MpiBinding | null; detail: string } {
  if (cached) return cached;
  if (process.env.POLYALIGN_MPI === "0") return { binding: null, detail: "POLYALIGN_MPI=0" };
  const found = requireFirstAddon<MpiBinding>(candidates());
  cached = found.addon ? { binding: found.addon, detail: found.file } : { binding: null, detail: found.tried };
  return cached;
}
