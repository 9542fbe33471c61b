/**
 * Bash-style brace expansion as Python's `braceexpand` does it (what
 * WebDataset uses for shard lists): lists `{a,b,}`, numeric ranges with
 * optional step `{0..10..2}` (zero-padded to the wider bound when either
 * bound has a leading zero), descending and character ranges, nesting, and
 * several braces as a cartesian product, leftmost slowest. A brace with
 * neither comma nor range stays literal; `\` escapes. The number of names is
 * counted before any is made: a pattern naming more than `limit` (default
 * 1,000,000) is refused, so `x-{0..99999999}` or nested ranges fail at once.
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

/** How many values a range body names, or null when it is not a range. */
function rangeCount(body: string): number | null {
  const m = INT_RANGE.exec(body) ?? CHAR_RANGE.exec(body);
  if (!m) return null;
  const numeric = INT_RANGE.test(body);
  const a = numeric ? Number(m[1]) : m[1].charCodeAt(0);
  const b = numeric ? Number(m[2]) : m[2].charCodeAt(0);
  const step = Math.abs(Number(m[3] ?? 1)) || 1;
  return Math.floor(Math.abs(b - a) / step) + 1;
}

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

/** The first unescaped top-level brace of `s`: its position, its closing one's, its inside; null when none. */
function firstBrace(s: string): { open: number; close: number; body: string } | null {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "}") throw new BraceError(`unbalanced "}" at position ${i} in "${s}"`);
    if (c !== "{") continue;
    const close = closing(s, i);
    if (close < 0) throw new BraceError(`unbalanced "{" at position ${i} in "${s}"`);
    return { open: i, close, body: s.slice(i + 1, close) };
  }
  return null;
}

function expand(s: string): string[] {
  const brace = firstBrace(s);
  if (!brace) return [unescapeBraces(s)];
  const { open, close, body } = brace;
  const prefix = unescapeBraces(s.slice(0, open));
  const tails = expand(s.slice(close + 1));
  const alternatives = splitTopLevel(body);
  let items: string[];
  if (alternatives) items = alternatives.flatMap((a) => expand(a));
  else {
    // no comma, no range: the braces stay literal, their inside still expands
    items = range(body) ?? expand(body).map((x) => `{${x}}`);
  }
  const out: string[] = [];
  for (const it of items) for (const t of tails) out.push(prefix + it + t);
  return out;
}

/** The number of names `expand(s)` makes, without making them (saturates at Infinity). */
function count(s: string): number {
  const brace = firstBrace(s);
  if (!brace) return 1;
  const alternatives = splitTopLevel(brace.body);
  const items = alternatives ? alternatives.reduce((n, a) => n + count(a), 0) : (rangeCount(brace.body) ?? count(brace.body));
  return items * count(s.slice(brace.close + 1));
}

/** The most names one pattern may expand to unless the caller says otherwise. */
export const BRACE_LIMIT = 1_000_000;

/** The number of names a pattern expands to (checked for balance, nothing made). */
export function braceCount(pattern: string): number {
  return count(pattern);
}

/** Expand one pattern; more than `limit` names is a BraceError naming the count. */
export function braceExpand(pattern: string, limit: number = BRACE_LIMIT): string[] {
  const n = count(pattern);
  if (n > limit)
    throw new BraceError(
      `"${pattern}" expands to ${n.toLocaleString("en-US")} names, more than the limit of ${limit.toLocaleString("en-US")}; list fewer shards`,
    );
  return expand(pattern);
}
