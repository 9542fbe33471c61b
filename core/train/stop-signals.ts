/**
 * Ctrl-C and SIGTERM during training: the first asks the loop to finish the
 * optimizer step it is in, write a checkpoint and stop (InterruptedError, exit
 * 130 / 143); a second one exits at once with the same code.
 */
import type { Logger } from "../log.ts";

export type StopSignal = "SIGINT" | "SIGTERM";
const SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM"];
const EXIT_CODE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export class StopSignals {
  /** the first signal received, if any */
  requested: StopSignal | null = null;
  private readonly handlers = new Map<StopSignal, () => void>();

  constructor(private readonly log: Logger) {
    for (const signal of SIGNALS) {
      const handler = () => this.receive(signal);
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  private receive(signal: StopSignal): void {
    if (this.requested) {
      this.log.warn(`${signal} again: stopping now, without a checkpoint of the current step`);
      process.exit(EXIT_CODE[signal]);
    }
    this.requested = signal;
    this.log.warn(`${signal}: finishing the current step, then writing a checkpoint (${signal} again stops at once)`);
  }

  /** remove the handlers (the signals' default behaviour returns) */
  dispose(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.clear();
  }
}
