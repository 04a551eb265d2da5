import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Job } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ImageObtained } from '../products/image-obtained.js';
import { ImageStatus } from '../products/image-status.js';
import { type ClaimedImage, type ImageOutcome, ImageWorkRepository } from '../products/image-work.repository.js';
import { ImageDispatchRepository } from '../products/image-dispatch.repository.js';
import { type RememberedOutput, ReuseRepository } from '../products/reuse.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import type { ProcessingOptions } from '../requests/processing-options.js';
import { type ProcessChunkJob, QueueName } from '../queue/queue.constants.js';
import { imageKey, imagePutOptions, type RequestFolder } from '../storage/storage-keys.js';
import { StorageDriver, StorageError } from '../storage/storage.driver.js';
import { storageOutageWait } from '../storage/storage-outage.js';
import { Dispatcher } from './dispatcher.js';
import { ImageFetcher } from './fetch/image-fetcher.js';
import { ImageRetryPolicy } from './image-retry-policy.js';
import { ChunkReuse } from './chunk-reuse.js';
import { ChunkWorkLog } from './chunk-work-log.js';
import { EXTENSION, type ImageFormat } from './transform/image-format.js';
import { PIPELINE_VERSION, outputOptionsKey } from './transform/output-identity.js';
import { lowerImageThreadPriority } from './thread-priority.js';
import { ImageTransformer } from './transform/image-transformer.js';
import { transformFailureDetail } from './transform/transform-failure.js';

/**
 * One job per chunk: a handful of one request's images, leased to it by the
 * Dispatcher. Each image is fetched, compressed and stored in turn; what
 * came of it is written in batches (ChunkWorkLog). BullMQ delivers at least
 * once and a lease can run out, so every step is idempotent: the storage key
 * is derived from the image, and only the chunk that holds an image, while
 * it is open, records its outcome.
 */
// autorun is off so concurrency and lock settings from the environment apply
// before the first job is taken (decorator options are fixed at import time).
@Processor(QueueName.Images, { autorun: false })
export class ChunkJobProcessor extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ChunkJobProcessor.name);
  /** Set on shutdown: chunks in flight finish the image they are on and hand the rest back. */
  private stopping = false;

  constructor(
    private readonly work: ImageWorkRepository,
    private readonly dispatch: ImageDispatchRepository,
    private readonly reuseMemory: ReuseRepository,
    private readonly retries: ImageRetryPolicy,
    private readonly fetcher: ImageFetcher,
    private readonly transformer: ImageTransformer,
    private readonly storage: StorageDriver,
    private readonly queue: JobQueue,
    private readonly dispatcher: Dispatcher,
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
      // A chunk whose worker died is not run again as a whole: its images'
      // leases run out and the dispatcher hands them out one by one.
      maxStalledCount: 0,
    });
    this.worker.concurrency = this.config.workerConcurrency;
    // BullMQ reports here what it could not tell Redis, e.g. a chunk finished
    // after Redis lost its key: the outcomes are in PostgreSQL already. An
    // 'error' event with no listener would be thrown instead.
    this.worker.on('error', (error) => this.logger.warn(`Chunk queue: ${error.message}`));
    this.worker.run().catch((error: unknown) => this.logger.error('Image worker stopped', error as Error));
  }

  /**
   * Graceful stop: take no new chunk; the ones in flight finish the image
   * they are on and give the others back to the dispatcher, unstarted. This
   * runs in onModuleDestroy, before the ORM and Redis connections close on
   * application shutdown, so in-flight chunks can still record their work.
   */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    await this.worker.close();
    this.fetcher.close();
  }

  /** Every log line of a chunk carries its request and chunk. */
  process(job: Job<ProcessChunkJob>): Promise<string> {
    const bindings = { requestId: job.data.requestId, chunkId: job.data.chunkId };
    return this.pino.runInContext(() => this.handle(job.data), { bindings });
  }

  private async handle({ chunkId }: ProcessChunkJob): Promise<string> {
    const leaseMs = this.config.jobLockMs;
    const chunk = await this.work.claimChunk(chunkId, leaseMs);
    if (!chunk) return 'gone';
    const log = new ChunkWorkLog(this.work, chunkId, chunk.requestId, this.logger, leaseMs);
    // Off (reuse=false): no statement and no hash; on: one lookup now, one write at the end.
    const reuse =
      chunk.options.reuse === false
        ? null
        : await ChunkReuse.open(
            this.reuseMemory,
            {
              tenant: chunk.tenant,
              optionsKey: outputOptionsKey(chunk.options, this.config.jpegShrinkOnLoad),
              pipelineVersion: PIPELINE_VERSION,
            },
            chunk.images.map((image) => image.inputUrl),
            this.logger,
          );
    // The lease covers the chunk while this process lives; a dead worker's runs out.
    const heartbeat = setInterval(
      () =>
        void this.work
          .extendLease(chunkId, leaseMs)
          .catch((error: unknown) => this.logger.warn(`Extending the lease failed: ${(error as Error).message}`)),
      leaseMs / 3,
    );
    try {
      // Every image of a chunk is on one host: once it pauses us, the rest wait too, unstarted.
      let hostPausedUntil = 0;
      for (const image of chunk.images) {
        if (this.stopping || hostPausedUntil > 0) {
          const delayMs = Math.max(0, hostPausedUntil - Date.now());
          log.add({ imageId: image.imageId, requeue: { delayMs, notItsFault: false, unstarted: true } });
          continue;
        }
        // A cancelled request's images, or a lease that ran out, end the chunk here.
        if (!(await log.checkpoint())) break;
        // A context of its own replaces the chunk's, so it names the chunk again.
        const bindings = { requestId: chunk.requestId, chunkId, imageId: image.imageId, attempt: image.attempt };
        hostPausedUntil = await this.pino.runInContext(
          () => this.processImage(chunk.folder, image, chunk.options, log, reuse),
          { bindings },
        );
      }
      // Before the outcomes' last write, which may finish the request: once it is
      // done, what its images taught is remembered. Their files exist whether or
      // not every outcome still counts (a cancel keeps them; a delete takes both).
      await reuse?.write(chunk.requestId);
      await log.close();
    } finally {
      clearInterval(heartbeat);
    }
    for (const outcome of log.counted) this.countMetrics(outcome);
    if (log.requestDone) await this.queue.enqueueFinalize(chunk.requestId, log.round);
    // A lane is free: the window may need topping up before the next tick.
    void this.dispatcher.chunkEnded();
    return `${log.counted.length} recorded`;
  }

  /** Fetches, compresses and stores one image; returns until when its host paused us (epoch ms), else 0. */
  private async processImage(
    folder: RequestFolder,
    image: ClaimedImage,
    options: ProcessingOptions,
    log: ChunkWorkLog,
    reuse: ChunkReuse | null,
  ): Promise<number> {
    const begun = performance.now();
    try {
      const outcome = await this.fetchAndStore(folder, image, options, reuse);
      log.add({ imageId: image.imageId, outcome }, performance.now() - begun);
      return 0;
    } catch (error) {
      if (error instanceof StorageError) {
        const now = Date.now();
        const since = image.waitingSince?.getTime() ?? now;
        const wait = storageOutageWait(since, now, this.config.jobBackoffMs);
        if (wait !== null) {
          this.logger.warn(`Storage unavailable, image waits ${wait} ms: ${error.message}`);
          log.add({ imageId: image.imageId, requeue: { delayMs: wait, notItsFault: true } });
          return 0;
        }
      }
      const failure = this.retries.classify(error);
      const pauseMs = this.retries.hostPauseMs(failure, image.waitingSince);
      if (failure.pause && pauseMs !== null) {
        // The host's own limit, not the image's fault: the host is paused for
        // every worker of the deployment, and the image waits for it.
        const until = Date.now() + pauseMs;
        await this.dispatch.pauseHost(this.config.deployment, failure.pause.host, new Date(until));
        this.logger.warn(`${failure.pause.host} asked us to wait (${failure.code}): paused for ${pauseMs} ms`);
        log.add({ imageId: image.imageId, requeue: { delayMs: pauseMs, notItsFault: true } });
        return until;
      }
      if (this.retries.shouldRetry(failure, image.attempt)) {
        this.metrics.jobAttemptsFailed.inc({ code: failure.code });
        this.logger.warn(`Attempt failed, will retry: ${failure.code} ${failure.message}`);
        const delayMs = this.retries.delayBeforeRetry(image.attempt);
        log.add({ imageId: image.imageId, requeue: { delayMs, notItsFault: false } });
        return 0;
      }
      // The stored message is for the client; the library's own words (paths included) only go here.
      this.logger.warn(
        `Image failed: ${failure.code} ${failure.message} (${transformFailureDetail(failure) ?? 'no detail'})`,
      );
      log.add({ imageId: image.imageId, outcome: this.retries.failedOutcome(failure) });
      return 0;
    }
  }

  /**
   * libvips writes the output file itself and the download buffer is reused
   * once libvips is done with it: no Buffer per image for V8 to account for.
   *
   * With `reuse`, a URL with a remembered output is asked for conditionally:
   * a 304, or a body with the remembered XXH3-128 digest, copies that output under
   * this image's own key instead of decoding (docs/architecture.md, "Re-runs").
   */
  private async fetchAndStore(
    folder: RequestFolder,
    image: ClaimedImage,
    options: ProcessingOptions,
    reuse: ChunkReuse | null,
  ): Promise<ImageOutcome> {
    const url = image.inputUrl;
    const known = reuse?.known(url) ?? null;
    const fetched = await this.fetcher.fetch(url, { validators: known?.validators ?? null, hash: reuse !== null });
    if (fetched.notModified) {
      // A 304 answers only a request that sent validators, which only a known output has.
      const copied = await this.copyOutput(folder, image, known!.output, ImageObtained.Revalidated);
      if (copied) {
        reuse!.learn(url, fetched.validators, known!.output.sourceXxh3, copied);
        return copied;
      }
      reuse!.forgetOutput(url);
      return this.fetchAndStore(folder, image, options, reuse);
    }
    try {
      if (known && fetched.xxh3 === known.output.sourceXxh3) {
        const copied = await this.copyOutput(folder, image, known.output, ImageObtained.Reused);
        if (copied) {
          reuse!.learn(url, fetched.validators, fetched.xxh3, copied);
          return copied;
        }
        reuse!.forgetOutput(url);
      }
      const extension = EXTENSION[this.transformer.outputFormat(fetched.data, options)];
      const key = imageKey(folder, image.imageId, extension, image.fileName);
      const result = await this.storage.writeThrough(key, imagePutOptions(key), (path) =>
        this.transformer.transformToFile(fetched.data, options, path),
      );
      const outcome = {
        status: ImageStatus.Succeeded,
        outputKey: key,
        obtained: ImageObtained.Fetched,
        format: result.format,
        bytesIn: result.bytesIn,
        bytesOut: result.bytesOut,
        width: result.width,
        height: result.height,
      } as const;
      if (fetched.xxh3 !== null) reuse?.learn(url, fetched.validators, fetched.xxh3, outcome);
      return outcome;
    } finally {
      fetched.release();
    }
  }

  /** Copies a remembered output under the image's own key; null when its file is gone. */
  private async copyOutput(
    folder: RequestFolder,
    image: ClaimedImage,
    output: RememberedOutput,
    obtained: ImageObtained,
  ) {
    const key = imageKey(folder, image.imageId, EXTENSION[output.format as ImageFormat], image.fileName);
    if (!(await this.storage.copy(output.outputKey, key, imagePutOptions(key)))) {
      this.logger.warn(`The output remembered for this URL is gone (${output.outputKey}): fetching in full`);
      return null;
    }
    return {
      status: ImageStatus.Succeeded,
      outputKey: key,
      obtained,
      format: output.format,
      bytesIn: output.bytesIn,
      bytesOut: output.bytesOut,
      width: output.width,
      height: output.height,
    } as const;
  }

  private countMetrics({ outcome, ms }: { outcome: ImageOutcome; ms: number | null }): void {
    if (outcome.status === ImageStatus.Failed) {
      this.metrics.imagesProcessed.inc({ outcome: ImageStatus.Failed, code: outcome.errorCode, obtained: '' });
      return;
    }
    const { obtained } = outcome;
    this.metrics.imagesProcessed.inc({ outcome: ImageStatus.Succeeded, code: '', obtained });
    // A copy takes milliseconds: among the encodes' durations it would only hide them.
    if (ms !== null && obtained === ImageObtained.Fetched) {
      this.metrics.imageDuration.observe({ format: outcome.format }, ms / 1000);
    }
    // A 304 brought no body; bytesIn is the remembered source's size.
    if (obtained !== ImageObtained.Revalidated) this.metrics.imageBytes.inc({ direction: 'in' }, outcome.bytesIn);
    this.metrics.imageBytes.inc({ direction: 'out' }, outcome.bytesOut);
  }
}
