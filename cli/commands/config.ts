/** `polyalign config`: load, layer, override and validate a config, then print the effective YAML. */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { prepareRun } from "../../core/run/prepare-run.ts";
import { configToYaml } from "../../core/config/write.ts";

export const configCommand: CliCommand = {
  name: "config",
  summary: "validate a config and print it with defaults filled",
  help: `usage: polyalign config --config FILE [--set key.path=value ...]

Reads FILE (following extends:), applies each --set in order, loads the user
plugin modules it lists, validates every section against its plugin's schema
and prints the effective config. Exit code 2 on a config error.

example: polyalign config --config configs/demo.yaml --set model.fusion.name=cross-attention`,
  async run(args, io) {
    const { values } = parseCommandArgs("config", args, { config: { type: "string" }, set: { type: "string", multiple: true } });
    const file = requireString("config", values, "config");
    const { config } = await prepareRun(io.registry, file, { sets: stringList(values.set), log: io.log });
    io.out(configToYaml(config).trimEnd());
    return 0;
  },
};
