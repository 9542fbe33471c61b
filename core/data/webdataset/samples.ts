/**
 * Members → samples: consecutive members with the same key form one sample;
 * samples never cross shards; metadata members and names without an
 * extension are skipped. A repeated extension inside one sample makes that
 * sample bad: an error, or — with `onBadSample` — reported and dropped whole;
 * so does a member the tar reader found too large to hold.
 */
import { isMetaMember, splitMemberName } from "./keys.ts";
import { type TarMember, TarFormatError } from "./tar-reader.ts";

export interface WdsSample {
  /** directories + basename up to the first dot */
  key: string;
  /** the shard it came from, as given */
  url: string;
  /** position of the sample within its shard (0-based, bad samples counted) */
  index: number;
  /** extension (lower-cased) → bytes */
  files: Record<string, Uint8Array>;
}

export class DuplicateMemberError extends TarFormatError {}
export class MemberTooLargeError extends TarFormatError {}

export async function* groupSamples(
  members: AsyncIterable<TarMember>,
  url: string,
  onBadSample?: (key: string, reason: string) => void,
): AsyncGenerator<WdsSample> {
  let current: WdsSample | null = null;
  let bad = false;
  let index = 0;
  for await (const m of members) {
    if (isMetaMember(m.name)) continue;
    const ke = splitMemberName(m.name);
    if (!ke) continue;
    if (current && current.key !== ke.key) {
      if (!bad) yield current;
      current = null;
      bad = false;
    }
    if (!current) current = { key: ke.key, url, index: index++, files: Object.create(null) as Record<string, Uint8Array> };
    if (bad) continue;
    if (m.tooLarge !== undefined) {
      const reason = `member ${m.name} is ${m.tooLarge.toLocaleString("en-US")} bytes, more than the limit (data.maxMemberBytes)`;
      if (!onBadSample) throw new MemberTooLargeError(`${url}: sample ${ke.key}: ${reason}`, url, m.name);
      onBadSample(ke.key, reason);
      bad = true;
      continue;
    }
    if (ke.ext in current.files) {
      const reason = `two members with extension .${ke.ext} (${m.name})`;
      if (!onBadSample) throw new DuplicateMemberError(`${url}: sample ${ke.key} has ${reason}`, url, m.name);
      onBadSample(ke.key, reason);
      bad = true;
      continue;
    }
    current.files[ke.ext] = m.data;
  }
  if (current && !bad) yield current;
}
