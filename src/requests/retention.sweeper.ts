import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PeriodicTask } from '../common/periodic-task.js';
import { AppConfig } from '../config/app-config.js';
import { RequestDeletion } from './request-deletion.service.js';

/** Requests deleted per transaction: bounds how long rows stay locked and how much one pass does. */
export const RETENTION_BATCH = 100;
/** Batches per pass, so a backlog (retention switched on over years of requests) drains over several passes. */
const BATCHES_PER_PASS = 10;

/**
 * With RETENTION_DAYS set, every worker tries each SWEEP_INTERVAL_MS to delete
 * the requests that finished longer ago; a PostgreSQL advisory lock lets one
 * pass run at a time across workers (as in StuckWorkSweeper).
 */
@Injectable()
export class RetentionSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionSweeper.name);
  private readonly task = new PeriodicTask('Retention sweep', () => this.sweep(), this.logger);

  constructor(
    private readonly deletion: RequestDeletion,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.retentionDays === null) return;
    this.task.start(this.config.sweepIntervalMs);
  }

  onModuleDestroy(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; resolves to how many requests it deleted. */
  async sweep(): Promise<number> {
    const days = this.config.retentionDays;
    if (days === null) return 0;
    let deleted = 0;
    for (let batch = 0; batch < BATCHES_PER_PASS; batch++) {
      const count = await this.deletion.deleteFinishedBefore(days, RETENTION_BATCH);
      if (count === null) break;
      deleted += count;
      if (count < RETENTION_BATCH) break;
    }
    if (deleted > 0) this.logger.log(`Deleted ${deleted} request(s) finished more than ${days} day(s) ago`);
    return deleted;
  }
}
