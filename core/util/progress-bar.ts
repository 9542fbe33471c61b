/**
 * Progress of long work (training steps, evaluation, building shards): on a
 * terminal one line, redrawn in place by cli-progress and fitted to the
 * terminal's width (the bar shrinks first, then the trailing detail is cut);
 * elsewhere JSON log lines, every `every` items and at the end.
 */
import { SingleBar } from "cli-progress";
import type { Logger } from "../log.ts";

/** What the bar writes to (process.stderr, or a spec's fake terminal). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

export interface ProgressBarOptions {
  /** what is counted: "step", "re-ranking", "synth" */
  label: string;
  total: number;
  log: Logger;
  /** log lines (no terminal): every this many items (default: a tenth of the total) */
  every?: number;
  /** default process.stderr */
  stream?: ProgressStream;
  /** default: whether the stream is a TTY */
  tty?: boolean;
}

export interface ProgressFields {
  /** e.g. "41.2 samples/s" */
  rate?: string;
  /** after everything else, cut first when the line is too long (e.g. the losses) */
  detail?: string;
  /** the log line's fields (no terminal) */
  json?: Record<string, unknown>;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`;
}

const BAR_MIN = 5;
const BAR_MAX = 30;

/** One progress line of `width` columns at most: `label done/total [bar] rate ETA eta detail`. */
export function progressLine(label: string, done: number, total: number, width: number, eta: number, fields: ProgressFields = {}): string {
  const head = `${label} ${done}/${total}`;
  const tail = [fields.rate, `ETA ${formatDuration(eta)}`].filter(Boolean).join(" ");
  const room = width - 1; // the last column stays free: a full line would wrap on some terminals
  const fixed = head.length + tail.length + 4; // spaces and brackets
  const bar = Math.max(BAR_MIN, Math.min(BAR_MAX, room - fixed - (fields.detail ? fields.detail.length + 1 : 0)));
  const filled = Math.round((bar * done) / Math.max(total, 1));
  let line = `${head} [${"=".repeat(filled)}${" ".repeat(bar - filled)}] ${tail}`;
  if (fields.detail) line += ` ${fields.detail}`;
  return line.length > room ? line.slice(0, Math.max(0, room - 1)) + "…" : line;
}

export class ProgressBar {
  private readonly bar: SingleBar | null;
  private readonly every: number;
  private readonly started = performance.now();
  private lastLogged = -1;
  private fields: ProgressFields = {};
  private stopped = false;

  constructor(private readonly opts: ProgressBarOptions) {
    const stream = opts.stream ?? process.stderr;
    const tty = opts.tty ?? !!stream.isTTY;
    this.every = Math.max(1, opts.every ?? Math.ceil(opts.total / 10));
    this.bar = tty
      ? new SingleBar({
          stream: stream as NodeJS.WritableStream,
          // the line is ours, fitted to the width cli-progress reads off the terminal
          format: (_options, params) => progressLine(opts.label, params.value, params.total, params.maxWidth, this.eta(params.value), this.fields),
          hideCursor: false,
          clearOnComplete: false,
          stopOnComplete: false,
          fps: 5,
          noTTYOutput: true,
        })
      : null;
    this.bar?.start(opts.total, 0);
  }

  private eta(done: number): number {
    const elapsed = (performance.now() - this.started) / 1000;
    return done > 0 ? ((this.opts.total - done) * elapsed) / done : Number.NaN;
  }

  update(done: number, fields: ProgressFields = {}): void {
    this.fields = fields;
    if (this.bar) {
      if (this.stopped) return;
      this.bar.update(done);
      if (done >= this.opts.total) this.stop();
      return;
    }
    if (done === this.lastLogged) return;
    // a line each time the count passes a multiple of `every` (counts may go up by a batch at a time)
    if (Math.floor(done / this.every) > Math.floor(Math.max(0, this.lastLogged) / this.every) || done >= this.opts.total) {
      this.lastLogged = done;
      this.opts.log.info(`${this.opts.label} ${done}/${this.opts.total}`, {
        done,
        total: this.opts.total,
        eta_s: Math.round(this.eta(done)),
        ...fields.json,
      });
    }
  }

  /** Ends the line (a terminal's bar stays on screen with its last values). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar?.stop();
  }
}
