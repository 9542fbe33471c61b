/**
 * Web Worker entry (Deno, where node:worker_threads messaging is slow):
 * `{ type: "init", spec }` → `{ type: "ready" }` or `{ type: "failed", message }`;
 * `{ type: "task", task }` → `{ type: "result", result }` with the arrays transferred.
 */
import { createSampleProcessor, type SampleResult, type SampleTask, type ProcessorSpec } from "./sample-processor.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(msg: unknown, transfer?: ArrayBuffer[]): void;
}
const scope = globalThis as unknown as WorkerScope;
let processor: ((t: SampleTask) => Promise<SampleResult>) | null = null;

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data as { type: "init"; spec: ProcessorSpec } | { type: "task"; task: SampleTask };
  if (msg.type === "init") {
    try {
      processor = await createSampleProcessor(msg.spec);
      scope.postMessage({ type: "ready" });
    } catch (err) {
      scope.postMessage({ type: "failed", message: (err as Error).message });
    }
    return;
  }
  if (!processor) return;
  const r = await processor(msg.task);
  scope.postMessage({ type: "result", result: r }, r.ok ? [r.pixels.buffer as ArrayBuffer, r.ids.buffer as ArrayBuffer] : []);
};
