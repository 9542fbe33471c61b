/**
 * Loading the native addon (core/native/build/Release/polyalign_native.node,
 * built by `npm run build:native`). Absent, unbuildable or disabled
 * (POLYALIGN_NATIVE=0) → null, with the reason, and polyalign falls back to JS.
 */
import { requireFirstAddon } from "./require-addon.ts";
import { fileURLToPath } from "node:url";
import type { CpuOps } from "./ops.ts";

/** The data pipeline's image operations (src/image_ops.c): the arithmetic of their JS versions in core/data/image, bit for bit. */
export interface NativeImageOps {
  warpAffine(src: Uint8Array, out: Uint8Array, width: number, height: number, inv: Float64Array, fill: number): void;
  sharpness(src: Uint8Array, out: Uint8Array, width: number, height: number, factor: number): void;
  normalizeChw(src: Uint8Array, out: Float32Array, scale: Float64Array, shift: Float64Array): void;
}

type AddonExports = Omit<CpuOps, "name"> & Partial<NativeImageOps> & { blas?: () => string };

const ADDON_FILE = "build/Release/polyalign_native.node";

function candidates(): string[] {
  const list: string[] = [];
  if (process.env.POLYALIGN_NATIVE_PATH) list.push(process.env.POLYALIGN_NATIVE_PATH);
  // Beside this file (running from sources, e.g. Deno) or from dist/core/native.
  list.push(fileURLToPath(new URL(`./${ADDON_FILE}`, import.meta.url)));
  list.push(fileURLToPath(new URL(`../../../core/native/${ADDON_FILE}`, import.meta.url)));
  return list;
}

export interface AddonLoad {
  ops: CpuOps | null;
  /** absent from an addon built before they existed */
  image?: NativeImageOps | null;
  /** the sgemm the addon was built with: "openblas", or "builtin" (no OpenBLAS at build time) */
  blas?: string;
  /** the file loaded, or why nothing was */
  detail: string;
}

let cached: AddonLoad | null = null;

export function nativeDisabled(): boolean {
  const v = (process.env.POLYALIGN_NATIVE ?? "").toLowerCase();
  return v === "0" || v === "false" || v === "off";
}

export function loadNativeOps(): AddonLoad {
  if (nativeDisabled()) return { ops: null, detail: "disabled by POLYALIGN_NATIVE=0" };
  if (cached) return cached;
  const found = requireFirstAddon<AddonExports>(candidates());
  if (found.addon) {
    const addon = found.addon;
    const image =
      addon.warpAffine && addon.sharpness && addon.normalizeChw
        ? { warpAffine: addon.warpAffine, sharpness: addon.sharpness, normalizeChw: addon.normalizeChw }
        : null;
    cached = { ops: { name: "native", ...bindAll(addon) }, image, detail: found.file, blas: addon.blas?.() ?? "openblas" };
    return cached;
  }
  cached = { ops: null, detail: `native addon unavailable (${found.tried}); run \`npm run build:native\`` };
  return cached;
}

function bindAll(addon: AddonExports): AddonExports {
  return {
    gemmBatched: addon.gemmBatched,
    binary: addon.binary,
    unary: addon.unary,
    transpose: addon.transpose,
    reduceRows: addon.reduceRows,
    reduceCols: addon.reduceCols,
    softmax: addon.softmax,
    addBias: addon.addBias,
    adamw: addon.adamw,
    softmaxGrad: addon.softmaxGrad,
    gelu: addon.gelu,
    geluGrad: addon.geluGrad,
    layerNorm: addon.layerNorm,
    layerNormGrad: addon.layerNormGrad,
    setThreads: addon.setThreads,
    getThreads: addon.getThreads,
    setParallelMinWork: addon.setParallelMinWork,
    setGemmMinMacs: addon.setGemmMinMacs,
  };
}
