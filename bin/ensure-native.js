#!/usr/bin/env node
// Before `npm start`: build the native CPU kernels once when they are missing and a
// C toolchain is there (OpenBLAS is used when its headers are installed, a built-in
// sgemm otherwise). Never fails: without a build polyalign runs its JS kernels.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

const addon = new URL("../core/native/build/Release/polyalign_native.node", import.meta.url);
if (process.env.POLYALIGN_NATIVE === "0" || existsSync(addon)) process.exit(0);
console.error("polyalign: building the native CPU kernels (once; `npm run build:native` does the same) ...");
const r = spawnSync("npm", ["run", "-s", "build:native"], { stdio: ["ignore", "ignore", "inherit"] });
if (r.status !== 0) console.error("polyalign: the native kernels could not be built here; continuing with the slower JS kernels");
