import { EntityManager } from '@mikro-orm/postgresql';
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { ImageRepository } from '../products/image.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { QueueName } from '../queue/queue.constants.js';
import { RequestRepository } from '../requests/request.repository.js';
import { ImageRetryPolicy, type ImageJobState } from './image-retry-policy.js';

// Image ids read and looked up in Redis per round trip: bounds memory for huge requests.
const PAGE = 1000;

type JobCheck = 'live' | 'missing' | 'retried';

/**
 * The safety net under the queue. PostgreSQL is the record of what must be
 * done and Redis only holds the jobs that do it, so work can be stranded: a
 * request whose last image was recorded but whose finalize job was lost or
 * exhausted its retries, an image whose job vanished (Redis restarted without
 * persistence, the API died between commit and enqueue) or failed while the
 * database was down, so its outcome was never written. Every interval each
 * worker tries to sweep; a transaction-scoped PostgreSQL advisory lock lets
 * one sweep run at a time across all workers, and it is released even when
 * the sweeping process dies. A PostgreSQL lock rather than a BullMQ job
 * scheduler because the sweep must survive exactly the case where Redis lost
 * its data, scheduler included.
 *
 * Every repair is idempotent (jobId = entity id, guarded outcome updates), so
 * a sweep that races a job finishing at that moment at worst delivers the job
 * once more, which the claim reports as already recorded.
 */
@Injectable()
export class StuckWorkSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(StuckWorkSweeper.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly em: EntityManager,
    private readonly requestRows: RequestRepository,
    private readonly imageRows: ImageRepository,
    private readonly retries: ImageRetryPolicy,
    private readonly queue: JobQueue,
    @InjectQueue(QueueName.Images) private readonly images: Queue,
    @InjectQueue(QueueName.Requests) private readonly requests: Queue,
    private readonly config: AppConfig,
  ) {}

  /**
   * A request is looked at once it has made no progress for this long: by
   * then a dead worker's job has been handed over (JOB_LOCK_MS) and two sweeps
   * have passed, so busy requests are not checked against Redis every time.
   */
  get staleAfterMs(): number {
    return Math.max(2 * this.config.sweepIntervalMs, this.config.jobLockMs);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      // A slow sweep (Redis or PostgreSQL timing out) must not pile up behind itself.
      this.running ??= this.sweep()
        .catch((error: unknown) => this.logger.warn(`Sweep failed, will try again: ${(error as Error).message}`))
        .finally(() => (this.running = undefined));
    }, this.config.sweepIntervalMs);
  }

  /** Lets a sweep in progress finish while the ORM and Redis are still open. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; false when another worker holds the sweep lock. */
  async sweep(): Promise<boolean> {
    return this.em.fork().transactional(async (tx) => {
      // The lock lives as long as this transaction.
      if (!(await this.requestRows.tryTakeSweepLock(tx, 2 * this.staleAfterMs))) return false;
      await this.finalizeDoneRequests(tx);
      await this.requeueStrandedImages(tx);
      return true;
    });
  }

  /** (a) Every image is terminal but the request is not: its finalize job was lost or gave up. */
  private async finalizeDoneRequests(tx: EntityManager): Promise<void> {
    for (const id of await this.requestRows.recordedButOpen(tx, PAGE)) {
      const check = await this.checkJob(this.requests, id);
      if (check === 'live') continue;
      if (check === 'missing') await this.queue.enqueueFinalize(id);
      this.logger.warn(
        `Request ${id}: every image is terminal but the request was not finalized; ` +
          (check === 'missing' ? 'finalize job re-enqueued' : 'finished finalize job retried'),
      );
    }
  }

  /** (b) Open images of requests that stopped making progress, whose job is gone or finished. */
  private async requeueStrandedImages(tx: EntityManager): Promise<void> {
    for (const requestId of await this.imageRows.staleRequests(tx, this.staleAfterMs)) {
      let added = 0;
      let retried = 0;
      let after = '00000000-0000-0000-0000-000000000000';
      for (;;) {
        const page = await this.imageRows.openJobImages(tx, requestId, after, PAGE);
        if (page.length === 0) break;
        after = page.at(-1)!;
        const checks = await Promise.all(page.map((id) => this.checkJob(this.images, id)));
        const missing = page.filter((_, index) => checks[index] === 'missing');
        await this.queue.enqueueImages(requestId, missing);
        added += missing.length;
        retried += checks.filter((check) => check === 'retried').length;
      }
      if (added + retried === 0) continue;
      const repairs = [
        added > 0 && `re-enqueued ${added} image job(s) missing from the queue`,
        retried > 0 && `retried ${retried} image job(s) that finished without recording an outcome`,
      ];
      this.logger.warn(`Request ${requestId}: ${repairs.filter(Boolean).join('; ')}`);
    }
  }

  /** Applies the retry policy's sweep rule to the job of that id; a missing job is for the caller to add. */
  private async checkJob(queue: Queue, jobId: string): Promise<JobCheck> {
    const job = await queue.getJob(jobId);
    // A job not finished yet is waiting, delayed or active: no need to ask Redis for its state.
    const state: ImageJobState = !job
      ? 'missing'
      : !job.finishedOn
        ? 'active'
        : ((await job.getState()) as ImageJobState);
    const action = this.retries.sweepAction(state);
    if (action === 'enqueue') return 'missing';
    if (action === 'leave') return 'live';
    await job!.retry(state as 'completed' | 'failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return 'retried';
  }
}
