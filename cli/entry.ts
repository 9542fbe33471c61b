/** Process entry point (`bin/polyalign.js` on Node, `deno task polyalign` on Deno). */
import { runCli } from "./main.ts";

const argv = typeof process !== "undefined" ? process.argv.slice(2) : [];
runCli(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
