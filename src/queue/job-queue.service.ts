import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { DeliverWebhookJob, JobName, QueueName, webhookJobId } from './queue.constants.js';

// addBulk sends one Redis round trip per chunk; this keeps each under a few MB.
const BULK_CHUNK = 1000;

/** Typed enqueueing; the job id is the entity id so a repeated enqueue is a no-op. */
@Injectable()
export class JobQueue {
  constructor(
    @InjectQueue(QueueName.Images) private readonly images: Queue,
    @InjectQueue(QueueName.Requests) private readonly requests: Queue,
    @InjectQueue(QueueName.Webhooks) private readonly webhooks: Queue,
  ) {}

  async enqueueImages(requestId: string, imageIds: readonly string[]): Promise<void> {
    for (let start = 0; start < imageIds.length; start += BULK_CHUNK) {
      await this.images.addBulk(
        imageIds.slice(start, start + BULK_CHUNK).map((imageId) => ({
          name: JobName.ProcessImage,
          data: { imageId, requestId },
          opts: { jobId: imageId },
        })),
      );
    }
  }

  /**
   * Drops the request's work from Redis: these images' jobs and its finalize
   * job. A cancel calls it so that waiting jobs do not linger (their claim
   * would find the image cancelled anyway); a retry, so that the kept ids of
   * finished jobs are free to be added again. Queue.remove leaves a job a
   * worker holds alone; that one finishes, and the image row's guard decides
   * whether its outcome counts.
   */
  async removeRequestJobs(requestId: string, imageIds: readonly string[]): Promise<void> {
    for (let start = 0; start < imageIds.length; start += BULK_CHUNK) {
      await Promise.all(imageIds.slice(start, start + BULK_CHUNK).map((imageId) => this.images.remove(imageId)));
    }
    await this.requests.remove(requestId);
  }

  async enqueueFinalize(requestId: string): Promise<void> {
    await this.requests.add(JobName.FinalizeRequest, { requestId }, { jobId: requestId });
  }

  async enqueueWebhookDelivery(deliveryId: string, attempt: number, delayMs = 0): Promise<void> {
    const data: DeliverWebhookJob = { deliveryId };
    await this.webhooks.add(JobName.DeliverWebhook, data, {
      jobId: webhookJobId(deliveryId, attempt),
      delay: delayMs,
      // The delivery log lives in PostgreSQL; a finished job only has to free its id
      // so that the sweep can queue the attempt again if it never got made.
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  /**
   * Worker connections on this deployment's image queue, across every process.
   * CLIENT LIST spans the whole Redis server; BullMQ matches the prefix and
   * queue name, but not the database, so another deployment on a different
   * database with the same names would be counted too.
   */
  async imageWorkerCount(): Promise<number> {
    const client = await this.images.backend.client;
    const db = String((client.options.db as number | undefined) ?? 0);
    const workers = await this.images.getWorkers();
    return workers.filter((worker) => worker.db === db).length;
  }

  /** Image jobs not yet finished; a real Redis round trip, hence also the readiness check. */
  async imageQueueDepth(): Promise<{ waiting: number; active: number; delayed: number }> {
    const counts = await this.images.getJobCounts('waiting', 'active', 'delayed');
    return { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0 };
  }
}
