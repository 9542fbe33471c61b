/**
 * State dicts: a module's parameters and buffers by dotted name, loaded from
 * or saved to safetensors. Strict loading checks everything before it
 * changes anything, so a failed load leaves the model as it was.
 */
import { tf } from "../tensor/tf.ts";
import type { Module } from "../tensor/module.ts";
import { CheckpointError } from "../errors.ts";
import { fromFloat32, fromInt, readSafetensors, type StoredTensor, toFloat32, toInt32, writeSafetensors } from "./safetensors.ts";

export interface ShapeMismatch {
  name: string;
  expected: number[];
  got: number[];
}

export interface LoadReport {
  loaded: string[];
  /** in the model, absent from the source */
  missing: string[];
  /** in the source, absent from the model */
  unexpected: string[];
  mismatched: ShapeMismatch[];
}

export interface LoadOptions {
  /** throw unless every key matches (default true) */
  strict?: boolean;
  /** model names that may be absent even when strict (e.g. regenerated buffers) */
  optional?: (name: string) => boolean;
  /** source names to pass over silently (e.g. `position_ids`, rebuilt as arange) */
  ignore?: (name: string) => boolean;
  /** label for error messages (the file) */
  source?: string;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listSome(names: string[], n = 8): string {
  return names.length <= n ? names.join(", ") : `${names.slice(0, n).join(", ")}, … (${names.length} in all)`;
}

export function describeReport(r: LoadReport): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing ${r.missing.length}: ${listSome(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected ${r.unexpected.length}: ${listSome(r.unexpected)}`);
  if (r.mismatched.length) {
    parts.push(
      `shape mismatch ${r.mismatched.length}: ` +
        r.mismatched
          .slice(0, 8)
          .map((m) => `${m.name} model [${m.expected.join(",")}] vs file [${m.got.join(",")}]`)
          .join("; "),
    );
  }
  return parts.join("; ") || `all ${r.loaded.length} keys matched`;
}

/** Compare without loading. */
export function checkStateDict(module: Module, source: ReadonlyMap<string, StoredTensor>, opts: LoadOptions = {}): LoadReport {
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  const modelNames = new Set<string>();
  for (const [name, v] of module.stateEntries()) {
    modelNames.add(name);
    const t = source.get(name);
    if (!t) {
      if (!opts.optional?.(name)) report.missing.push(name);
      continue;
    }
    if (!sameShape(v.shape, t.shape)) report.mismatched.push({ name, expected: [...v.shape], got: [...t.shape] });
    else report.loaded.push(name);
  }
  for (const name of source.keys()) if (!modelNames.has(name) && !opts.ignore?.(name)) report.unexpected.push(name);
  return report;
}

/**
 * Assign matching tensors to the module's variables. Strict mode throws a
 * CheckpointError (and assigns nothing) if any key is missing, unexpected or
 * mis-shaped; non-strict assigns what matches and reports the rest.
 */
export function loadStateDict(module: Module, source: ReadonlyMap<string, StoredTensor>, opts: LoadOptions = {}): LoadReport {
  const report = checkStateDict(module, source, opts);
  const strict = opts.strict ?? true;
  const bad = report.missing.length + report.unexpected.length + report.mismatched.length;
  if (strict && bad > 0) {
    throw new CheckpointError(
      `${opts.source ?? "state dict"} does not match the model (strict load, nothing loaded): ${describeReport(report)}`,
      opts.source ?? "",
    );
  }
  const ok = new Set(report.loaded);
  const assigned = new Set<unknown>();
  for (const [name, v] of module.stateEntries()) {
    if (!ok.has(name) || assigned.has(v)) continue; // tied names: the first one wins
    const t = source.get(name) as StoredTensor;
    const values = v.dtype === "int32" ? toInt32(t, name) : toFloat32(t, name);
    tf.tidy(() => v.assign(tf.tensor(values, [...v.shape], v.dtype)));
    assigned.add(v);
  }
  return report;
}

/** The module's state as stored tensors (every name, tied ones included, like PyTorch). */
export function moduleToStored(module: Module, dtype: "F32" | "F16" | "BF16" = "F32"): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, v] of module.stateEntries()) {
    const shape = [...v.shape];
    if (v.dtype === "int32") out.set(name, fromInt(v.dataSync() as Int32Array, shape, "I64"));
    else out.set(name, fromFloat32(v.dataSync() as Float32Array, shape, dtype));
  }
  return out;
}

export function saveModule(module: Module, file: string, metadata: Record<string, string> = {}, dtype: "F32" | "F16" | "BF16" = "F32"): void {
  writeSafetensors(file, moduleToStored(module, dtype), metadata);
}

export function loadModule(module: Module, file: string, opts: LoadOptions = {}): LoadReport {
  const { tensors } = readSafetensors(file);
  return loadStateDict(module, tensors, { source: file, ...opts });
}
