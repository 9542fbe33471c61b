/** Progress of long work: a one-line bar on a TTY, JSON log lines otherwise. */
import type { Logger } from "../log.ts";

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`;
}

export class Progress {
  private readonly tty: boolean;
  private last = 0;

  constructor(
    private readonly total: number,
    private readonly log: Logger,
    private readonly every = 10,
    tty?: boolean,
  ) {
    this.tty = tty ?? !!process.stderr.isTTY;
  }

  update(step: number, fields: { samplesPerSec: number; elapsed: number; losses: Record<string, number>; lr: number }): void {
    const eta = ((this.total - step) * fields.elapsed) / Math.max(step, 1);
    if (this.tty) {
      const now = performance.now();
      if (now - this.last < 200 && step < this.total) return;
      this.last = now;
      const width = 24;
      const filled = Math.round((width * step) / Math.max(this.total, 1));
      const losses = Object.entries(fields.losses)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(" ");
      process.stderr.write(
        `\r step ${step}/${this.total} [${"=".repeat(filled)}${" ".repeat(width - filled)}] ${fields.samplesPerSec.toFixed(1)} samples/s ETA ${fmtTime(eta)} ${losses}   `,
      );
      if (step >= this.total) process.stderr.write("\n");
    } else if (step % this.every === 0 || step === this.total) {
      this.log.info(`step ${step}/${this.total}`, {
        step,
        total: this.total,
        samples_per_s: Math.round(fields.samplesPerSec * 10) / 10,
        eta_s: Math.round(eta),
        lr: fields.lr,
        ...fields.losses,
      });
    }
  }

  /** Close the line (a TTY bar interrupted by an error). */
  end(): void {
    if (this.tty) process.stderr.write("\n");
  }
}
