import { EntityManager } from '@mikro-orm/postgresql';
import { BeforeApplicationShutdown, HttpStatus, Injectable, Logger } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';
import { type ImageCursor, ImageRepository } from '../products/image.repository.js';
import { ProductRepository } from '../products/product.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { requestLinks } from '../requests/request-links.js';
import { RequestStatus } from '../requests/request-status.js';
import { RequestRepository } from '../requests/request.repository.js';
import { RequestDetails, RequestDraft } from './request-draft.js';

// Image jobs queued before the upload is answered (one addBulk round trip),
// and image ids read per page when queueing the rest.
const ENQUEUE_PAGE = 1000;

@Injectable()
export class UploadsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(UploadsService.name);
  private readonly enqueuing = new Set<Promise<void>>();

  constructor(
    private readonly em: EntityManager,
    private readonly requests: RequestRepository,
    private readonly products: ProductRepository,
    private readonly images: ImageRepository,
    private readonly queue: JobQueue,
    private readonly config: AppConfig,
  ) {}

  /** A request to be written while its CSV is parsed; `submit` or `abort` it. */
  draft(originalFilename: string): RequestDraft {
    return new RequestDraft(
      this.em,
      { requests: this.requests, products: this.products, images: this.images },
      originalFilename,
      this.config.limits.uploadTimeoutMs,
    );
  }

  /**
   * Commits the request, then enqueues its image jobs. Nothing is enqueued
   * for a transaction that did not commit, and the draft is rolled back if the
   * commit fails.
   */
  async submit(draft: RequestDraft, details: RequestDetails): Promise<CreatedRequestDto> {
    try {
      await draft.commit(details);
    } catch (error) {
      await draft.abort();
      throw error;
    }
    const { requestId } = draft;

    // The first jobs go out before the answer, so a queue that is down still
    // withdraws the request (503, nothing stored); the rest follow in the
    // background, read back from the database a page at a time: a large CSV is
    // acknowledged once committed, not once 300 000 jobs are in Redis, and its
    // image ids never sit in memory together. Should this process die
    // meanwhile, the stuck-work sweep queues what is missing.
    let next: ImageCursor | null;
    try {
      next = await this.enqueuePage(requestId, { rowNumber: 0, position: 0 });
    } catch (error) {
      throw await this.withdraw(requestId, error);
    }
    if (next) this.enqueueLater(requestId, next);
    return {
      requestId,
      status: RequestStatus.Pending,
      productCount: details.productCount,
      imageCount: details.imageCount,
      links: requestLinks(requestId),
    };
  }

  /** Graceful stop: jobs still being queued are queued before the Redis connections close. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.enqueuing);
  }

  private enqueueLater(requestId: string, from: ImageCursor): void {
    const done = (async () => {
      for (let next: ImageCursor | null = from; next;) next = await this.enqueuePage(requestId, next);
    })()
      .catch((error: unknown) =>
        this.logger.error(
          `Request ${requestId}: not every image job is queued yet, the sweep will: ${(error as Error).message}`,
        ),
      )
      .finally(() => this.enqueuing.delete(done));
    this.enqueuing.add(done);
  }

  /** Queues the images after `after` (exclusive), one page; returns where the next page starts, or null at the end. */
  private async enqueuePage(requestId: string, after: ImageCursor): Promise<ImageCursor | null> {
    const page = await this.images.jobPage(requestId, after, ENQUEUE_PAGE);
    await this.queue.enqueueImages(requestId, page.ids);
    return page.next;
  }

  /**
   * The queue refused the jobs (producers fail fast while Redis is down):
   * the request is taken back, so a 503 means "nothing stored, try again".
   * Jobs a partial enqueue did add find their image gone and end at once.
   * Should the delete fail too (a double fault), the request stays and the
   * stuck-work sweep queues it once Redis is back, while the client, told to
   * retry, may upload it a second time.
   */
  private async withdraw(requestId: string, cause: unknown): Promise<AppError> {
    this.logger.warn(`Could not queue request ${requestId}; withdrawing it: ${(cause as Error).message}`);
    await this.requests
      .delete(requestId)
      .catch((error: unknown) =>
        this.logger.error(`Request ${requestId} stays stored; the sweep will queue it: ${(error as Error).message}`),
      );
    return new AppError(
      HttpStatus.SERVICE_UNAVAILABLE,
      ErrorCode.ServiceUnavailable,
      'The job queue is unavailable',
      'Nothing was stored; upload the file again in a moment.',
    );
  }
}
