/** The training loop's progress: a ProgressBar of optimiser steps with the rate, the learning rate and the losses. */
import type { Logger } from "../log.ts";
import { ProgressBar, type ProgressStream } from "../util/progress-bar.ts";

export class Progress {
  private readonly bar: ProgressBar;

  constructor(total: number, log: Logger, every = 10, tty?: boolean, stream?: ProgressStream) {
    this.bar = new ProgressBar({ label: "step", total, log, every, tty, stream });
  }

  update(step: number, fields: { samplesPerSec: number; elapsed: number; losses: Record<string, number>; lr: number }): void {
    const losses = Object.entries(fields.losses)
      .map(([k, v]) => `${k} ${v.toFixed(3)}`)
      .join(" ");
    this.bar.update(step, {
      rate: `${fields.samplesPerSec.toFixed(1)} samples/s`,
      detail: losses,
      json: { step, samples_per_s: Math.round(fields.samplesPerSec * 10) / 10, lr: fields.lr, ...fields.losses },
    });
  }

  /** Close the line (also when a run stops early or fails). */
  end(): void {
    this.bar.stop();
  }
}
