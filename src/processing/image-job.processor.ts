import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ImageStatus } from '../products/image-status.js';
import { type ImageClaim, ImageRepository } from '../products/image.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import type { ProcessingOptions } from '../requests/processing-options.js';
import { ProcessImageJob, QueueName } from '../queue/queue.constants.js';
import { imageKey, imagePutOptions } from '../storage/storage-keys.js';
import { StorageDriver, StorageError } from '../storage/storage.driver.js';
import { storageOutageWait } from '../storage/storage-outage.js';
import { ImageFetcher } from './fetch/image-fetcher.js';
import { ImageRetryPolicy } from './image-retry-policy.js';
import { EXTENSION } from './transform/image-format.js';
import { lowerImageThreadPriority } from './thread-priority.js';
import { ImageTransformer, type TransformInfo } from './transform/image-transformer.js';
import { transformFailureDetail } from './transform/transform-failure.js';

/**
 * One job per image: fetch, compress, store, then record the outcome. BullMQ
 * delivers at least once, so every step is idempotent: the storage key is
 * derived from the image id and the outcome is counted by a guarded UPDATE.
 */
// autorun is off so concurrency and lock settings from the environment apply
// before the first job is taken (decorator options are fixed at import time).
@Processor(QueueName.Images, { autorun: false })
export class ImageJobProcessor extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ImageJobProcessor.name);

  constructor(
    private readonly images: ImageRepository,
    private readonly retries: ImageRetryPolicy,
    private readonly fetcher: ImageFetcher,
    private readonly transformer: ImageTransformer,
    private readonly storage: StorageDriver,
    private readonly queue: JobQueue,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly pino: PinoLogger,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    const lowered = await lowerImageThreadPriority(this.config.imageThreadNice);
    if (lowered > 0) this.logger.log(`${lowered} image threads run at nice ${this.config.imageThreadNice}`);
    Object.assign(this.worker.opts, {
      lockDuration: this.config.jobLockMs,
      stalledInterval: this.config.jobLockMs,
    });
    this.worker.concurrency = this.config.workerConcurrency;
    this.worker.run().catch((error: unknown) => this.logger.error('Image worker stopped', error as Error));
  }

  /**
   * Graceful stop: take no new job, let the ones in flight finish. This runs
   * in onModuleDestroy, before the ORM and Redis connections close on
   * application shutdown, so in-flight jobs can still record their outcome.
   */
  async onModuleDestroy(): Promise<void> {
    await this.worker.close();
    this.fetcher.close();
  }

  /** Every log line of a job carries its request, image and attempt. */
  process(job: Job<ProcessImageJob>, token?: string): Promise<string> {
    const bindings = { requestId: job.data.requestId, imageId: job.data.imageId, attempt: job.attemptsMade + 1 };
    return this.pino.runInContext(() => this.handle(job, token), { bindings });
  }

  private async handle(job: Job<ProcessImageJob & StorageOutageMark>, token?: string): Promise<string> {
    const started = performance.now();
    const claim = await this.images.claimImage(job.data.imageId);
    if (!claim) return 'gone';
    if (claim.alreadyTerminal) {
      // An earlier delivery recorded the outcome but may have died before
      // enqueueing finalize; enqueueing again is a no-op if it did not.
      if (claim.requestDone) await this.queue.enqueueFinalize(claim.requestId);
      return 'already-recorded';
    }

    let stored: { key: string; result: TransformInfo };
    try {
      stored = await this.fetchAndStore(claim, claim.options);
    } catch (error) {
      if (error instanceof StorageError) await this.waitForStorage(job, token, error);
      const failure = this.retries.classify(error);
      if (this.retries.shouldRetry(failure, job.attemptsMade + 1, job.opts.attempts ?? 1)) {
        this.metrics.jobAttemptsFailed.inc({ code: failure.code });
        this.logger.warn(`Attempt failed, will retry: ${failure.code} ${failure.message}`);
        throw failure;
      }
      const recorded = await this.images.recordOutcome(claim.imageId, {
        status: ImageStatus.Failed,
        errorCode: failure.code,
        errorMessage: failure.message,
        transient: failure.retryable,
      });
      if (recorded.counted) {
        this.metrics.imagesProcessed.inc({ outcome: ImageStatus.Failed, code: failure.code });
        // The stored message is for the client; the library's own words (paths included) only go here.
        this.logger.warn(
          `Image failed: ${failure.code} ${failure.message} (${transformFailureDetail(failure) ?? 'no detail'})`,
        );
      }
      if (recorded.requestDone) await this.queue.enqueueFinalize(claim.requestId);
      throw new UnrecoverableError(`${failure.code}: ${failure.message}`);
    }

    const { key, result } = stored;
    const recorded = await this.images.recordOutcome(claim.imageId, {
      status: ImageStatus.Succeeded,
      outputKey: key,
      format: result.format,
      bytesIn: result.bytesIn,
      bytesOut: result.bytesOut,
      width: result.width,
      height: result.height,
    });
    if (recorded.counted) {
      this.metrics.imagesProcessed.inc({ outcome: ImageStatus.Succeeded, code: '' });
      this.metrics.imageDuration.observe({ format: result.format }, (performance.now() - started) / 1000);
      this.metrics.imageBytes.inc({ direction: 'in' }, result.bytesIn);
      this.metrics.imageBytes.inc({ direction: 'out' }, result.bytesOut);
    }
    if (recorded.requestDone) await this.queue.enqueueFinalize(claim.requestId);
    return key;
  }

  /**
   * The store is down or refusing: the image is not at fault, so the job
   * waits for it (storage-outage.ts) without using an attempt, and the batch
   * completes when the store is back. Returns only once the wait is over.
   */
  private async waitForStorage(
    job: Job<ProcessImageJob & StorageOutageMark>,
    token: string | undefined,
    error: StorageError,
  ) {
    const now = Date.now();
    const since = job.data.storageDownSince ?? now;
    const wait = storageOutageWait(since, now, this.config.jobBackoffMs);
    if (wait === null || !token) return;
    this.logger.warn(`Storage unavailable, image waits ${wait} ms: ${error.message}`);
    await job.updateData({ ...job.data, storageDownSince: since });
    await job.moveToDelayed(now + wait, token);
    throw new DelayedError();
  }

  /**
   * libvips writes the output file itself and the download buffer is reused
   * once libvips is done with it: no Buffer per image for V8 to account for.
   */
  private async fetchAndStore(image: ImageClaim, options: ProcessingOptions) {
    const fetched = await this.fetcher.fetch(image.inputUrl);
    try {
      const extension = EXTENSION[this.transformer.outputFormat(fetched.data, options)];
      const key = imageKey(image.requestId, image.imageId, extension, image.fileName);
      const result = await this.storage.writeThrough(key, imagePutOptions(key), (path) =>
        this.transformer.transformToFile(fetched.data, options, path),
      );
      return { key, result };
    } finally {
      fetched.release();
    }
  }
}

/** When an image job first found the store unavailable; kept in the job while it waits. */
interface StorageOutageMark {
  storageDownSince?: number;
}
