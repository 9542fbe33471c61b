/**
 * Bash-style brace expansion as Python's `braceexpand` does it (what
 * WebDataset uses for shard lists): lists `{a,b,}`, numeric ranges with
 * optional step `{0..10..2}` (zero-padded to the wider bound when either
 * bound has a leading zero), descending and character ranges, nesting, and
 * several braces as a cartesian product, leftmost slowest. A brace with
 * neither comma nor range stays literal; `\` escapes. No cap on the count.
 */
import { PolyalignError } from "../../errors.ts";

export class BraceError extends PolyalignError {}

/** Index of the `}` closing the `{` at `open`, or -1. */
function closing(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

/** Split on top-level commas (not inside nested braces). */
function splitTopLevel(body: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let found = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
      found = true;
    }
  }
  parts.push(body.slice(start));
  return found ? parts : null;
}

const INT_RANGE = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/;
const CHAR_RANGE = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?$/;

function range(body: string): string[] | null {
  let m = INT_RANGE.exec(body);
  if (m) {
    const [lo, hi] = [m[1], m[2]];
    const a = Number(lo);
    const b = Number(hi);
    const step = Math.abs(Number(m[3] ?? 1)) || 1;
    const padded = /^-?0\d/.test(lo) || /^-?0\d/.test(hi);
    const width = Math.max(lo.length, hi.length);
    const out: string[] = [];
    const dir = a <= b ? 1 : -1;
    for (let v = a; dir > 0 ? v <= b : v >= b; v += dir * step) {
      let s = String(Math.abs(v));
      if (padded) s = s.padStart(width - (v < 0 ? 1 : 0), "0");
      out.push(v < 0 ? "-" + s : s);
    }
    return out;
  }
  m = CHAR_RANGE.exec(body);
  if (m) {
    const a = m[1].charCodeAt(0);
    const b = m[2].charCodeAt(0);
    const step = Math.abs(Number(m[3] ?? 1)) || 1;
    const dir = a <= b ? 1 : -1;
    const out: string[] = [];
    for (let v = a; dir > 0 ? v <= b : v >= b; v += dir * step) out.push(String.fromCharCode(v));
    return out;
  }
  return null;
}

function unescapeBraces(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

function expand(s: string): string[] {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "}") throw new BraceError(`unbalanced "}" at position ${i} in "${s}"`);
    if (c !== "{") continue;
    const end = closing(s, i);
    if (end < 0) throw new BraceError(`unbalanced "{" at position ${i} in "${s}"`);
    const prefix = s.slice(0, i);
    const body = s.slice(i + 1, end);
    const tails = expand(s.slice(end + 1));
    const alternatives = splitTopLevel(body);
    let items: string[];
    if (alternatives) items = alternatives.flatMap((a) => expand(a));
    else {
      const r = range(body);
      // no comma, no range: the braces stay literal, their inside still expands
      items = r ?? expand(body).map((x) => `{${x}}`);
    }
    const out: string[] = [];
    for (const it of items) for (const t of tails) out.push(unescapeBraces(prefix) + it + t);
    return out;
  }
  return [unescapeBraces(s)];
}

/** Expand one pattern. */
export function braceExpand(pattern: string): string[] {
  return expand(pattern);
}
