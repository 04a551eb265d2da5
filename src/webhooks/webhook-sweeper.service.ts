import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PeriodicTask } from '../common/periodic-task.js';
import { AppConfig } from '../config/app-config.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { WebhookDeliveryRepository } from './webhook-delivery.repository.js';
import { WebhookSigner } from './webhook-signer.js';

const BATCH = 500;

/**
 * Queues again every delivery that is due but has no job: the process died
 * between the commit and the enqueue, Redis lost its data, or a worker died
 * mid-attempt and its lease ran out. Every worker runs it on a timer rather
 * than as a BullMQ repeatable job, because a repeatable job lives in Redis
 * and would be lost in exactly the failure it exists to repair. Many workers
 * sweeping at once is harmless: the per-attempt job id turns repeated enqueues
 * into no-ops, and the delivery row admits one sender.
 */
@Injectable()
export class WebhookSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookSweeper.name);
  private readonly task = new PeriodicTask('Webhook sweep', () => this.sweep(), this.logger);

  constructor(
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly queue: JobQueue,
    private readonly signer: WebhookSigner,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.signer.configured) return;
    // At once, so a restarted worker picks up what the previous run left.
    this.task.start(this.config.webhooks.sweepIntervalMs, { immediately: true });
  }

  onModuleDestroy(): Promise<void> {
    return this.task.stop();
  }

  /** Queues the due deliveries; returns how many it found. */
  async sweep(): Promise<number> {
    const due = await this.deliveries.findDue(BATCH);
    for (const delivery of due) await this.queue.enqueueWebhookDelivery(delivery.id, delivery.nextAttempt);
    if (due.length > 0) this.logger.log(`${due.length} webhook deliveries due; queued those without a job`);
    return due.length;
  }
}
