/**
 * Progress: one line fitted to the terminal, redrawn in place (cli-progress)
 * on a TTY; JSON log lines every N items elsewhere.
 */
import assert from "node:assert/strict";
import { createLogger, ProgressBar, progressLine } from "../../../core/index.ts";

const ESC = String.fromCharCode(27);
/** a control sequence: cursor moves, line clears, wrap on/off */
const CONTROL = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, "g");
const TO_LINE_START = new RegExp(`${ESC}\\[1G|\\r`);

/** A terminal that records what is written, and the visible lines it would show. */
function fakeTerminal(columns: number) {
  const writes: string[] = [];
  return {
    isTTY: true,
    columns,
    writes,
    write(s: string) {
      writes.push(s);
      return true;
    },
    // control sequences (cursor moves, line clears, wrap on/off) removed
    text: () => writes.join("").replace(CONTROL, ""),
  };
}

describe("core/util progress", () => {
  it("fits a line to the width: the bar shrinks first, then the detail is cut", () => {
    const detail = "itc 4.123 itm 0.693 mlm 3.210";
    const wide = progressLine("step", 41, 310, 160, 95, { rate: "41.2 samples/s", detail });
    assert.match(wide, /^step 41\/310 \[====\s{26}\] 41\.2 samples\/s ETA 1m35s itc 4\.123 itm 0\.693 mlm 3\.210$/);
    for (const width of [40, 60, 80, 100, 160]) {
      const line = progressLine("step", 41, 310, width, 95, { rate: "41.2 samples/s", detail });
      assert.ok(line.length <= width - 1, `${width}: ${line.length} "${line}"`);
      assert.match(line, /^step 41\/310 \[/);
    }
    const narrow = progressLine("step", 41, 310, 60, 95, { rate: "41.2 samples/s", detail });
    assert.match(narrow, /\[=\s{4}\]/, "the bar at its least (5)");
    assert.ok(narrow.endsWith("…"), narrow);
    assert.equal(progressLine("step", 0, 10, 80, Number.NaN), "step 0/10 [" + " ".repeat(30) + "] ETA ?");
  });

  it("on a terminal: redraws one line in place, never wider than the terminal, and ends it at the total", () => {
    const term = fakeTerminal(50);
    const bar = new ProgressBar({ label: "step", total: 20, log: createLogger({ level: "error" }), stream: term });
    for (let i = 1; i <= 20; i++) bar.update(i, { rate: `${i}.0 samples/s`, detail: "itc 1.000 itm 0.500 mlm 2.000" });
    const text = term.text();
    const lines = text.split("\n");
    assert.equal(lines.length, 2, "one line, ended once");
    assert.equal(lines[1], "");
    // every redraw goes back to the line's start (cursorTo(0)) and clears the rest
    const redraws = term.writes.filter((w) => TO_LINE_START.test(w)).length;
    assert.ok(redraws >= 2, `redrawn in place (${redraws})`);
    for (const w of term.writes) {
      const visible = w.replace(CONTROL, "");
      assert.ok(visible.replace(/\n/g, "").length <= 49, `"${visible}" fits 50 columns`);
    }
    assert.match(lines[0], /step 20\/20 \[=+\]/);
    bar.update(20);
    bar.stop();
    assert.equal(term.text().split("\n").length, 2, "nothing after the end");
  });

  it("elsewhere: a JSON log line every N items and at the end", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", json: true, sink: { write: (l: string) => lines.push(l) } });
    const bar = new ProgressBar({ label: "re-ranking queries", total: 25, log, every: 10, tty: false });
    for (let i = 1; i <= 25; i++) bar.update(i, { json: { extra: i } });
    const parsed = lines.map((l) => JSON.parse(l) as { msg: string; done: number; total: number; extra: number });
    assert.deepEqual(
      parsed.map((p) => p.msg),
      ["re-ranking queries 10/25", "re-ranking queries 20/25", "re-ranking queries 25/25"],
    );
    assert.deepEqual(
      parsed.map((p) => [p.done, p.total, p.extra]),
      [
        [10, 25, 10],
        [20, 25, 20],
        [25, 25, 25],
      ],
    );
    // counted a batch at a time (64 per batch, a line every 50): a line whenever a multiple of 50 is passed
    lines.length = 0;
    const batches = new ProgressBar({ label: "test images", total: 500, log, every: 50, tty: false });
    for (let done = 64; done < 500 + 64; done += 64) batches.update(Math.min(done, 500));
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { done: number }).done),
      [64, 128, 192, 256, 320, 384, 448, 500],
    );
  });
});
