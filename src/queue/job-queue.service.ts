import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JobName, QueueName } from './queue.constants.js';

// addBulk sends one Redis round trip per chunk; this keeps each under a few MB.
const BULK_CHUNK = 1000;

/** Typed enqueueing; the job id is the entity id so a repeated enqueue is a no-op. */
@Injectable()
export class JobQueue {
  constructor(
    @InjectQueue(QueueName.Images) private readonly images: Queue,
    @InjectQueue(QueueName.Requests) private readonly requests: Queue,
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

  async enqueueFinalize(requestId: string): Promise<void> {
    await this.requests.add(JobName.FinalizeRequest, { requestId }, { jobId: requestId });
  }

  /** Redis round trip used by the readiness probe. */
  async ping(): Promise<void> {
    const client = await this.images.client;
    await client.ping();
  }
}
