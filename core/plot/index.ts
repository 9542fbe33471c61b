export * from "./render-chart.ts";
export * from "./palette.ts";
export * from "./line-chart.ts";
export * from "./bar-chart.ts";
export * from "./colour-bar.ts";
export * from "./heat-overlay.ts";
