/**
 * A small TypeScript lexer for source checks: the identifiers and string
 * literals of a file's code, comments skipped (regex literals by the usual
 * rule: a `/` where an operand may begin).
 */
export interface SourceTokens {
  identifiers: { name: string; line: number }[];
  strings: { value: string; line: number }[];
}

const REGEX_AFTER = new Set(["(", ",", "=", ":", "[", "!", "&", "|", "?", "{", "}", ";", "+", "-", "*", "%", "<", ">", "~", "^"]);
const REGEX_KEYWORDS = new Set(["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await"]);

export function sourceTokens(src: string): SourceTokens {
  const out: SourceTokens = { identifiers: [], strings: [] };
  let i = 0;
  let line = 1;
  let prev = ""; // last significant token
  const templateDepth: number[] = []; // brace depth at each open template's ${
  let braces = 0;
  const readString = (quote: string) => {
    let value = "";
    const start = line;
    i++;
    while (i < src.length && src[i] !== quote) {
      if (src[i] === "\\") {
        value += src[i + 1];
        i += 2;
        continue;
      }
      if (src[i] === "\n") line++;
      value += src[i++];
    }
    i++;
    out.strings.push({ value, line: start });
  };
  const readTemplate = () => {
    // from after ` or } up to the closing ` or the next ${
    let value = "";
    const start = line;
    while (i < src.length) {
      const c = src[i];
      if (c === "\\") {
        value += src[i + 1];
        i += 2;
        continue;
      }
      if (c === "`") {
        i++;
        break;
      }
      if (c === "$" && src[i + 1] === "{") {
        i += 2;
        templateDepth.push(braces);
        braces++;
        break;
      }
      if (c === "\n") line++;
      value += c;
      i++;
    }
    out.strings.push({ value, line: start });
  };
  while (i < src.length) {
    const c = src[i];
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === "\n") line++;
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      readString(c);
      prev = "str";
      continue;
    }
    if (c === "`") {
      i++;
      readTemplate();
      prev = "str";
      continue;
    }
    if (c === "/" && (prev === "" || REGEX_AFTER.has(prev) || REGEX_KEYWORDS.has(prev))) {
      // a regex literal: skip it (with classes, where / does not end it)
      i++;
      let inClass = false;
      while (i < src.length) {
        const d = src[i];
        if (d === "/" && !inClass) break;
        if (d === "[") inClass = true;
        if (d === "]") inClass = false;
        i += d === "\\" ? 2 : 1;
      }
      i++;
      while (/[a-z]/i.test(src[i] ?? "")) i++;
      prev = "regex";
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w$]/.test(src[j])) j++;
      const name = src.slice(i, j);
      out.identifiers.push({ name, line });
      prev = name;
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w.]/.test(src[j])) j++;
      prev = "num";
      i = j;
      continue;
    }
    if (c === "{") braces++;
    if (c === "}") {
      braces--;
      if (templateDepth.length && templateDepth[templateDepth.length - 1] === braces) {
        templateDepth.pop();
        i++;
        readTemplate();
        prev = "str";
        continue;
      }
    }
    prev = c;
    i++;
  }
  return out;
}
