/** Text for HTML or SVG: the five characters markup gives meaning to, as numeric references. */
export function escapeMarkup(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
