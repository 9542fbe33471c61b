/**
 * NLVR2's JSONL files (`train.json`, `dev.json`, `test1.json`: one example per
 * line with `identifier`, `sentence`, `label` "True"/"False"): one sample per
 * example with its two images, `img0` (left) and `img1` (right), found by the
 * official naming `<split>-<set>-<pair>-img{0,1}.png` under the images folder
 * (directly, or in a subfolder as NLVR2's train images are). The sample's
 * JSON: `{identifier, statement, label}` (`format: {imageMembers: [img0, img1],
 * text: json:statement, label: json:label}`).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SourceFormatError } from "./image-text-sources.ts";
import type { SampleRecord } from "./sample-record.ts";

/** `dev-850-0-1` → `dev-850-0` (an example's images are named by its pair, not its sentence). */
export function nlvr2PairStem(identifier: string): string {
  const parts = identifier.split("-");
  if (parts.length !== 4) throw new SourceFormatError(`NLVR2 identifier "${identifier}" is not split-set-pair-sentence`);
  return parts.slice(0, 3).join("-");
}

/** Every image under `root` (one level of subfolders), by file name. */
function imageIndex(root: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(root)) throw new SourceFormatError(`${root}: no such images folder`);
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.isFile()) out.set(e.name, join(root, e.name));
    else if (e.isDirectory()) for (const f of readdirSync(join(root, e.name))) out.set(f, join(root, e.name, f));
  }
  return out;
}

export function readNlvr2(file: string, imagesRoot: string): SampleRecord[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new SourceFormatError(`${file}: no such file`);
  }
  const images = imageIndex(imagesRoot);
  const out: SampleRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}: line ${i + 1}`;
    let e: { identifier?: unknown; sentence?: unknown; label?: unknown };
    try {
      e = JSON.parse(line);
    } catch (err) {
      throw new SourceFormatError(`${where} is not valid JSON (${(err as Error).message})`);
    }
    if (typeof e.identifier !== "string" || typeof e.sentence !== "string") throw new SourceFormatError(`${where} needs "identifier" and "sentence"`);
    const label = e.label === "True" || e.label === true ? true : e.label === "False" || e.label === false ? false : null;
    if (label === null) throw new SourceFormatError(`${where} (${e.identifier}): "label" must be "True" or "False" (got ${JSON.stringify(e.label)})`);
    const stem = nlvr2PairStem(e.identifier);
    const pair = [0, 1].map((k) => ({ member: `img${k}`, name: `${stem}-img${k}.png`, path: images.get(`${stem}-img${k}.png`) ?? "" }));
    out.push({
      key: e.identifier,
      images: pair.map((p) => ({ member: p.member, path: p.path || join(imagesRoot, p.name) })),
      json: { identifier: e.identifier, statement: e.sentence, label },
      where: `${where} (${e.identifier})`,
    });
  });
  return out;
}
