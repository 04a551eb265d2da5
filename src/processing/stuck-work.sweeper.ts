import { EntityManager } from '@mikro-orm/postgresql';
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { ImageStatus } from '../products/image-status.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { QueueName } from '../queue/queue.constants.js';
import { RequestStatus } from '../requests/request-status.js';

// Image ids read and looked up in Redis per round trip: bounds memory for huge requests.
const PAGE = 1000;
const OPEN_REQUEST_STATES = `('${RequestStatus.Pending}', '${RequestStatus.Processing}')`;
const OPEN_IMAGE_STATES = `('${ImageStatus.Pending}', '${ImageStatus.Processing}')`;

/** Hashed into the advisory lock key that one sweep at a time holds. */
export const SWEEP_LOCK_NAME = 'pixbatch:stuck-work-sweep';

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
      // The lock lives as long as this transaction; if a Redis call hangs,
      // PostgreSQL ends the idle session so the lock cannot be held forever.
      await tx.execute(`SET LOCAL idle_in_transaction_session_timeout = ${Math.max(10_000, 2 * this.staleAfterMs)}`);
      const [lock] = await tx.execute<{ acquired: boolean }[]>(
        'SELECT pg_try_advisory_xact_lock(hashtext(?)) AS acquired',
        [SWEEP_LOCK_NAME],
      );
      if (!lock?.acquired) return false;
      await this.finalizeDoneRequests(tx);
      await this.requeueStrandedImages(tx);
      return true;
    });
  }

  /** (a) Every image is terminal but the request is not: its finalize job was lost or gave up. */
  private async finalizeDoneRequests(tx: EntityManager): Promise<void> {
    const done = await tx.execute<{ id: string }[]>(
      `SELECT id FROM processing_request
        WHERE status IN ${OPEN_REQUEST_STATES} AND images_succeeded + images_failed >= image_count
        LIMIT ${PAGE}`,
    );
    for (const { id } of done) {
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
    const stale = await tx.execute<{ id: string }[]>(
      `SELECT r.id FROM processing_request r
        WHERE r.status IN ${OPEN_REQUEST_STATES} AND r.images_succeeded + r.images_failed < r.image_count
          AND greatest(r.created_at, r.started_at,
                       (SELECT max(i.completed_at) FROM image i WHERE i.request_id = r.id))
              < now() - ? * interval '1 millisecond'`,
      [this.staleAfterMs],
    );
    for (const { id: requestId } of stale) {
      let added = 0;
      let retried = 0;
      let after = '00000000-0000-0000-0000-000000000000';
      for (;;) {
        const page = await tx.execute<{ id: string }[]>(
          // A repeated URL has no job: it is finished with its source image.
          `SELECT id FROM image
            WHERE request_id = ? AND status IN ${OPEN_IMAGE_STATES} AND source_image_id IS NULL AND id > ?
            ORDER BY id LIMIT ${PAGE}`,
          [requestId, after],
        );
        if (page.length === 0) break;
        after = page.at(-1)!.id;
        const checks = await Promise.all(page.map(({ id }) => this.checkJob(this.images, id)));
        const missing = page.filter((_, index) => checks[index] === 'missing').map(({ id }) => id);
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

  /**
   * A waiting, delayed or active job is left alone (BullMQ's stalled-job
   * check hands a dead worker's job over). A finished job still holds its id,
   * so adding it again would be ignored: it is retried here with a fresh
   * attempt budget. A missing one is for the caller to add.
   */
  private async checkJob(queue: Queue, jobId: string): Promise<JobCheck> {
    const job = await queue.getJob(jobId);
    if (!job) return 'missing';
    if (!job.finishedOn) return 'live';
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return 'live';
    await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
    return 'retried';
  }
}
