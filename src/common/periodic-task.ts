import type { Logger } from '@nestjs/common';

/**
 * A background pass run on a timer in every process that owns it, the way the
 * sweepers repair what a lost job or a dead process left behind. A pass never
 * starts while the previous one runs: a slow one (PostgreSQL or Redis timing
 * out) must not pile up behind itself. A failed pass is logged and tried again
 * at the next tick. A timer rather than a BullMQ repeatable job because the
 * sweepers exist for the case where Redis lost its data, scheduler included.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  /** `what` names the pass in the warning a failure logs. */
  constructor(
    private readonly what: string,
    private readonly pass: () => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  /** Runs the pass every `intervalMs`, and once at once when `immediately`. */
  start(intervalMs: number, { immediately = false } = {}): void {
    if (immediately) this.tick();
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  /** Stops the timer and waits for a pass in progress, so it finishes while the connections are still open. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    this.running ??= this.pass()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.warn(`${this.what} failed, will try again: ${(error as Error).message}`))
      .finally(() => (this.running = undefined));
  }
}
