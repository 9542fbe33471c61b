/** The Backend kind: a tfjs backend and its kernels (`backend: auto` picks the best available). */
import type { BackendProvider } from "../../tensor/backend.ts";
import { defineKind } from "./define.ts";

export type Backend = BackendProvider;
export const Backend = defineKind<Backend>("Backend", "a tfjs backend and its kernels");
