import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PeriodicTask } from '../common/periodic-task.js';
import { AppConfig } from '../config/app-config.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { RequestRepository } from '../requests/request.repository.js';

// Requests looked at per pass: bounds the work of one sweep.
const PAGE = 1000;

/**
 * The safety net under finalize. PostgreSQL is the record of what must be
 * done and Redis only holds the jobs that do it: a request whose last image
 * was recorded but whose finalize job was lost (Redis restarted without
 * persistence, the worker died between the two) or gave up (the database was
 * down for all its attempts) would stay open. Images need no such net: the
 * dispatcher hands out again any image whose lease ran out.
 *
 * Every interval each worker tries to sweep; a transaction-scoped PostgreSQL
 * advisory lock lets one sweep run at a time across all workers, and it is
 * released even when the sweeping process dies. A PostgreSQL lock rather
 * than a BullMQ job scheduler because the sweep must survive exactly the
 * case where Redis lost its data, scheduler included. Queueing a finalize is
 * idempotent (one job id per request and round; finalize checks the counters
 * under a row lock), so a sweep that races a finalize costs nothing.
 */
@Injectable()
export class StuckWorkSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(StuckWorkSweeper.name);
  private readonly task = new PeriodicTask('Sweep', () => this.sweep(), this.logger);

  constructor(
    private readonly em: EntityManager,
    private readonly requestRows: RequestRepository,
    private readonly queue: JobQueue,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(this.config.sweepIntervalMs);
  }

  onModuleDestroy(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; false when another worker holds the sweep lock. */
  async sweep(): Promise<boolean> {
    return this.em.fork().transactional(async (tx) => {
      // The lock lives as long as this transaction.
      const { deployment } = this.config;
      if (!(await this.requestRows.tryTakeSweepLock(tx, deployment, 2 * this.config.sweepIntervalMs))) return false;
      for (const { id, round } of await this.requestRows.recordedButOpen(tx, deployment, PAGE)) {
        await this.queue.enqueueFinalize(id, round);
        this.logger.warn(`Request ${id}: every image is recorded but the request is open; finalize queued`);
      }
      return true;
    });
  }
}
