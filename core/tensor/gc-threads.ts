/**
 * V8's concurrent marker competes with the kernels' threads for the cores.
 * tfjs allocates a fresh typed array for every kernel output, so marking runs
 * almost all the time, and on a background thread it took the core the
 * kernels' second thread wanted: the base model's step (2 threads, batch 2)
 * took 18.0 s with attention and 25.5 s with the hypergraph fusion, and with
 * marking on the main thread 16.8 s and 18.0 s. For a small model the kernels
 * stay on one thread and the marker's core would idle; there main-thread
 * marking cost a quarter of the tiny step (510 → 667 ms). So marking moves to
 * the main thread only for a model of GC_MAIN_THREAD_PARAMETERS or more
 * trained on more than one kernel thread. The flag is process-wide and set
 * once, before the training loop allocates. POLYALIGN_CONCURRENT_GC=1 keeps
 * V8's default; =0 moves marking for any model.
 */
import { setFlagsFromString } from "node:v8";
import { activeKernels } from "../native/install.ts";

export const GC_MAIN_THREAD_PARAMETERS = 20_000_000;

let applied = false;

/** Turns off V8's concurrent marking (once); returns whether it is off. */
export function keepGcOffKernelThreads(): boolean {
  if (applied) return true;
  if (process.env.POLYALIGN_CONCURRENT_GC === "1") return false;
  try {
    setFlagsFromString("--no-concurrent-marking");
    applied = true;
  } catch {
    // A runtime without V8 flag support keeps its default.
  }
  return applied;
}

/** The rule above: marking belongs on the main thread for `parameters` trained on `threads` kernel threads. */
export function wantsMainThreadMarking(threads: number, parameters: number, env: Record<string, string | undefined> = process.env): boolean {
  if (env.POLYALIGN_CONCURRENT_GC === "1") return false;
  if (env.POLYALIGN_CONCURRENT_GC === "0") return true;
  return threads > 1 && parameters >= GC_MAIN_THREAD_PARAMETERS;
}

/** Applies the rule for a model of `parameters` about to be trained on the installed kernels; true when marking is (now) on the main thread. */
export function adaptGcToKernels(parameters: number): boolean {
  const threads = activeKernels()?.ops.getThreads() ?? 1;
  return wantsMainThreadMarking(threads, parameters) ? keepGcOffKernelThreads() : applied;
}
