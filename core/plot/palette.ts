/** Colours for chart series (loss curves, variants), in order: Tableau 10, Vega's default categories. */
const SERIES_COLOURS: readonly string[] = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac"];

export function seriesColour(i: number): string {
  return SERIES_COLOURS[i % SERIES_COLOURS.length];
}
