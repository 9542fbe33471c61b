import type { CliCommand } from "../command.ts";
import { checkpointCommand } from "./checkpoint.ts";
import { compareCommand } from "./compare.ts";
import { configCommand } from "./config.ts";
import { evalCommand } from "./eval.ts";
import { forwardCommand } from "./forward.ts";
import { gradcamCommand } from "./gradcam.ts";
import { hubCommand } from "./hub.ts";
import { parityCommand } from "./parity.ts";
import { pluginsCommand } from "./plugins.ts";
import { referenceForwardCommand } from "./reference-forward.ts";
import { reportCommand } from "./report.ts";
import { scoreCommand } from "./score.ts";
import { searchCommand } from "./search.ts";
import { shardsCommand } from "./shards.ts";
import { synthCommand } from "./synth.ts";
import { tokenizeCommand } from "./tokenize.ts";
import { trainCommand } from "./train.ts";

/** Every `polyalign` sub-command, in the order `polyalign --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  trainCommand,
  evalCommand,
  reportCommand,
  scoreCommand,
  gradcamCommand,
  searchCommand,
  compareCommand,
  pluginsCommand,
  configCommand,
  parityCommand,
  forwardCommand,
  synthCommand,
  shardsCommand,
  tokenizeCommand,
  checkpointCommand,
  hubCommand,
  referenceForwardCommand,
];
