/**
 * ALBEF's caption and question cleaning (`dataset/utils.py`).
 */
const DROP = /[,.'!?"()*#:;~]/g;

/** lower-case, drop ,.'!?"()*#:;~, `-` and `/` → space, `<person>` → person, collapse spaces, keep `maxWords`. */
export function preCaption(caption: string, maxWords = 30): string {
  let s = caption
    .toLowerCase()
    .replace(DROP, "")
    .replace(/[-/]/g, " ")
    .replace(/<person>/g, "person");
  s = s.replace(/\s{2,}/g, " ");
  s = s.replace(/\n$/, "").trim();
  const words = s.split(" ");
  return words.length > maxWords ? words.slice(0, maxWords).join(" ") : s;
}

/** As ALBEF's pre_question: no whitespace collapsing, only a right-strip of spaces, then `maxWords`. */
export function preQuestion(question: string, maxWords = 30): string {
  let s = question.toLowerCase().replace(DROP, "").replace(/[-/]/g, " ");
  s = s.replace(/ +$/, "");
  const words = s.split(" ");
  return words.length > maxWords ? words.slice(0, maxWords).join(" ") : s;
}
