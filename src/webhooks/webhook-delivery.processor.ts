import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../observability/metrics.service.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { DeliverWebhookJob, QueueName } from '../queue/queue.constants.js';
import { RetrySchedule } from './retry-schedule.js';
import { WebhookDeliveryStatus } from './webhook-delivery-status.js';
import { WebhookDeliveryRepository } from './webhook-delivery.repository.js';
import { WebhookSender } from './webhook-sender.js';
import { WebhookSigner } from './webhook-signer.js';

// Sends wait on the network, not the CPU: many can be in flight per worker,
// so one slow receiver does not hold up everyone else's events.
const CONCURRENCY = 16;
// Margin beyond the attempt's own timeout before another worker may assume
// this one died mid-attempt and take the delivery over.
const LEASE_MARGIN_MS = 30_000;

/**
 * One job = one attempt. The job only says "look at this delivery"; the
 * delivery row decides whether an attempt is due and who makes it, so
 * duplicate, stalled or swept jobs cannot send an event twice at once.
 */
@Processor(QueueName.Webhooks, { autorun: false })
export class WebhookDeliveryProcessor extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookDeliveryProcessor.name);

  constructor(
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly sender: WebhookSender,
    private readonly signer: WebhookSigner,
    private readonly schedule: RetrySchedule,
    private readonly queue: JobQueue,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    if (!this.signer.configured) {
      // Deliveries wait in the outbox for a worker that can sign them.
      this.logger.warn('WEBHOOK_SIGNING_SECRET is not set: this worker sends no webhooks');
      return;
    }
    this.worker.concurrency = CONCURRENCY;
    this.worker.run().catch((error: unknown) => this.logger.error('Webhook worker stopped', error as Error));
  }

  /** Lets an attempt in flight record its outcome before the database closes. */
  async onModuleDestroy(): Promise<void> {
    await this.worker.close();
  }

  async process(job: Job<DeliverWebhookJob>, token?: string): Promise<string> {
    const claim = await this.deliveries.claim(job.data.deliveryId, this.config.webhooks.timeoutMs + LEASE_MARGIN_MS);
    if (claim.kind === 'not-due') {
      // The queue's clock ran ahead of the database's: wait the rest out rather than drop the attempt.
      await job.moveToDelayed(Date.now() + claim.waitMs, token);
      throw new DelayedError();
    }
    if (claim.kind === 'skipped') return claim.reason;

    const { attempt } = claim;
    const headers = this.signer.sign(attempt.eventId, new Date(), attempt.payload);
    const sent = await this.sender.post(attempt.url, { ...headers }, attempt.payload);
    const decision = this.schedule.decide(sent, attempt.number, attempt.attemptsAllowed);
    if (!(await this.deliveries.record(attempt, sent, decision))) {
      this.logger.warn(
        `Delivery ${attempt.deliveryId} attempt ${attempt.number} outlived its lease; outcome not recorded`,
      );
      return 'lease-lost';
    }
    // Outcome of this attempt: delivered, retrying (pending), failed (410, blocked) or exhausted.
    this.metrics.webhookAttempts.inc({
      outcome: decision.status === WebhookDeliveryStatus.Pending ? 'retrying' : decision.status,
    });
    if (decision.status === WebhookDeliveryStatus.Pending) {
      await this.queue.enqueueWebhookDelivery(attempt.deliveryId, attempt.number + 1, decision.delayMs);
    }
    if (decision.status !== WebhookDeliveryStatus.Delivered) {
      this.logger.warn(
        `Webhook ${attempt.eventId} attempt ${attempt.number} to ${attempt.url}: ${sent.errorMessage} → ${decision.status}`,
      );
    }
    return decision.status;
  }
}
