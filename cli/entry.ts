/** Process entry point (`bin/polyalign.js` on Node, `deno task polyalign` on Deno). */
import { joinedWorld } from "../core/distributed/world.ts";
import { runCli } from "./main.ts";

/** Exit codes after which every rank of a data-parallel run stopped at the same point (done, or a stop signal they agreed on). */
const TOGETHER = new Set([0, 130, 143]);

const argv = typeof process !== "undefined" ? process.argv.slice(2) : [];
runCli(argv).then(
  (code) => {
    process.exitCode = code;
    // a rank that fails alone ends the whole job: the others may be waiting for it in a collective
    const world = joinedWorld();
    if (world && world.size > 1) {
      if (TOGETHER.has(code)) world.finalize();
      else world.abort(code);
    }
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
    const world = joinedWorld();
    if (world && world.size > 1) world.abort(1);
  },
);
