import assert from "node:assert/strict";
import {
  activeKernels,
  jsCpuProvider,
  loadNativeOps,
  memoryLogger,
  nativeCpuProvider,
  resolveThreads,
  selectBackend,
  stockCpuProvider,
  tensorflowNodeProvider,
  tf,
} from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

describe("core/tensor backend selection", () => {
  const saved = { native: process.env.POLYALIGN_NATIVE, threads: process.env.POLYALIGN_THREADS };
  afterEach(async () => {
    for (const [k, v] of [
      ["POLYALIGN_NATIVE", saved.native],
      ["POLYALIGN_THREADS", saved.threads],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await useTestBackend();
  });
  const providers = () => [tensorflowNodeProvider(), nativeCpuProvider(), jsCpuProvider(), stockCpuProvider()];

  it("auto skips an absent tfjs-node, takes the native kernels when the addon loads, and logs the choice", async function () {
    if (!loadNativeOps().ops) this.skip();
    const log = memoryLogger();
    const info = await selectBackend("auto", providers(), { log });
    assert.equal(info.plugin, "cpu-native");
    assert.equal(tf.getBackend(), "cpu");
    assert.equal(activeKernels()?.ops.name, "native");
    const line = log.lines.map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg.startsWith("backend:"));
    assert.match(line!.msg, /^backend: cpu \(polyalign native \(OpenBLAS, \d+ threads\): BatchMatMul _FusedMatMul Add/);
  });

  it("with POLYALIGN_NATIVE=0, auto falls back to the JS kernels; `cpu` restores the stock ones", async () => {
    process.env.POLYALIGN_NATIVE = "0";
    const info = await selectBackend("auto", providers(), { log: memoryLogger() });
    assert.equal(info.plugin, "cpu-js");
    assert.equal(activeKernels()?.ops.name, "js");
    await selectBackend("cpu", providers(), { log: memoryLogger() });
    assert.equal(activeKernels(), null);
    await assert.rejects(
      selectBackend("cpu-native", providers(), { log: memoryLogger() }),
      /backend "cpu-native" is not available: disabled by POLYALIGN_NATIVE=0/,
    );
    await assert.rejects(selectBackend("tpu", providers(), { log: memoryLogger() }), /unknown backend "tpu"; known: auto, tensorflow, cpu-native, cpu-js, cpu/);
  });

  it("threads: POLYALIGN_THREADS overrides the config, which overrides the core count", () => {
    delete process.env.POLYALIGN_THREADS;
    assert.equal(resolveThreads(3), 3);
    assert.ok(resolveThreads() >= 1);
    process.env.POLYALIGN_THREADS = "1";
    assert.equal(resolveThreads(3), 1);
    process.env.POLYALIGN_THREADS = "two";
    assert.throws(() => resolveThreads(), /POLYALIGN_THREADS must be a positive integer, got "two"/);
  });
});
