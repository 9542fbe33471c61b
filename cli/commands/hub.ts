/** `polyalign hub download hf://…`: a file from the Hugging Face hub into its cache; prints the local path. */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs } from "../args.ts";
import { resolveHubPath } from "../../core/hub/resolve.ts";
import { UsageError } from "../../core/errors.ts";

export const hubCommand: CliCommand = {
  name: "hub",
  summary: "fetch a file from the Hugging Face hub into its cache",
  help: `usage: polyalign hub download hf://org/name[@revision]/path

Downloads the file into the Hugging Face cache — $HF_HUB_CACHE, or $HF_HOME/hub,
or ~/.cache/huggingface/hub; huggingface_hub's layout, so files Python tools
cached are reused and the other way round — and prints its local path. The
download resumes after a dropped connection and is checked against the hub's
size and sha256; a file already cached is not fetched again. An index
(*.index.json) brings its shards. HF_HUB_OFFLINE=1: the cache only, no network;
HF_ENDPOINT: another hub; HF_TOKEN: gated or private repositories.
Anywhere a config names weights (task.init and its parts), an hf:// address works too.`,
  async run(args, io) {
    const { positionals } = parseCommandArgs("hub", args, {}, true);
    const [sub, uri] = positionals;
    if (sub !== "download" || !uri) throw new UsageError("polyalign hub: expected `download hf://org/name[@revision]/path`");
    io.out(await resolveHubPath(uri, { log: io.log }));
    return 0;
  },
};
