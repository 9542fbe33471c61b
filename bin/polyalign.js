#!/usr/bin/env node
// Runs the compiled CLI (`npm run build` — done by `npm ci` through `prepare`).
import { existsSync } from "node:fs";
const entry = new URL("../dist/cli/entry.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("polyalign: dist/ is missing; run `npm run build` (npm ci does it) first");
  process.exit(1);
}
await import(entry.href);
