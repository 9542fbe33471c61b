/** Writing the effective config into a run folder (atomically). */
import { join } from "node:path";
import { stringify } from "yaml";
import { writeFileAtomic } from "../util/atomic-file.ts";
import type { RunConfig } from "./schema.ts";

export function configToYaml(config: RunConfig): string {
  return stringify(config, { lineWidth: 0 });
}

export function writeEffectiveConfig(runDir: string, config: RunConfig): string {
  const file = join(runDir, "config.yaml");
  writeFileAtomic(file, "# effective config (defaults filled) written by polyalign\n" + configToYaml(config));
  return file;
}
