/** Piscina worker entry (Node): builds the sample processor once, then runs tasks, transferring the outputs. */
import Piscina from "piscina";
import { createSampleProcessor, type ProcessorSpec, type SampleTask } from "./sample-processor.ts";

const spec = (Piscina.workerData as { spec: ProcessorSpec }).spec;
const ready = createSampleProcessor(spec);

export default async function run(task: SampleTask | { warmup: true }): Promise<unknown> {
  const process = await ready;
  if ("warmup" in task) return { ready: true };
  const r = await process(task);
  if (!r.ok) return r;
  // Piscina.move on an object with these two symbols transfers the buffers and delivers the value
  return Piscina.move({ [Piscina.transferableSymbol]: [r.pixels.buffer, r.ids.buffer], [Piscina.valueSymbol]: r } as never);
}
