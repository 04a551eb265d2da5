import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  DISPATCH_JOB_ID,
  DeliverWebhookJob,
  FinalizeRequestJob,
  JobName,
  ProcessChunkJob,
  QueueName,
  finalizeJobId,
  webhookJobId,
} from './queue.constants.js';

/** Typed enqueueing; each job id is derived from what it works on, so a repeated enqueue is a no-op. */
@Injectable()
export class JobQueue {
  constructor(
    @InjectQueue(QueueName.Images) private readonly images: Queue,
    @InjectQueue(QueueName.Requests) private readonly requests: Queue,
    @InjectQueue(QueueName.Webhooks) private readonly webhooks: Queue,
  ) {}

  /** Queues the chunks the dispatcher has just leased, in one round trip. */
  async addChunks(chunks: readonly ProcessChunkJob[]): Promise<void> {
    if (chunks.length === 0) return;
    await this.images.addBulk(
      chunks.map((chunk) => ({
        name: JobName.ProcessChunk,
        data: chunk,
        // A chunk is tried once: PostgreSQL holds its images' attempts and
        // backoff, and a chunk that dies is redispatched from there.
        opts: { jobId: chunk.chunkId, attempts: 1, removeOnComplete: true, removeOnFail: true },
      })),
    );
  }

  /** Drops waiting chunk jobs of a cancelled request; a chunk a worker holds finds its images cancelled. */
  async removeChunks(chunkIds: readonly string[]): Promise<void> {
    await Promise.all(chunkIds.map((chunkId) => this.images.remove(chunkId)));
  }

  /** Chunk jobs in Redis that no worker has finished: the dispatcher keeps this under its window. */
  async chunksOutstanding(): Promise<number> {
    const counts = await this.images.getJobCounts('waiting', 'active', 'prioritized');
    return Object.values(counts).reduce((sum, count) => sum + (count ?? 0), 0);
  }

  async enqueueFinalize(requestId: string, round: number): Promise<void> {
    const data: FinalizeRequestJob = { requestId };
    await this.requests.add(JobName.FinalizeRequest, data, {
      jobId: finalizeJobId(requestId, round),
      // Gone once done, so that the sweep can queue a finalize that was lost or gave up again.
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  /** Wakes a worker's dispatcher; should Redis refuse, the dispatchers' own tick finds the work. */
  async nudgeDispatch(): Promise<void> {
    await this.requests.add(
      JobName.Dispatch,
      {},
      { jobId: DISPATCH_JOB_ID, removeOnComplete: true, removeOnFail: true },
    );
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

  /** One round trip to Redis; readiness' probe. */
  async ping(): Promise<void> {
    // BullMQ types the connection by the commands it uses itself; QueueModule makes it an ioredis client.
    const client = (await this.images.backend.client) as unknown as Redis;
    await client.ping();
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
}
